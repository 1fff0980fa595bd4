-- Raw and ops tables of the DuckDB warehouse. Idempotent: run before every load.
-- event_time is UTC stored as a naive TIMESTAMP (Snowflake: TIMESTAMP_NTZ), as the platform documents.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE IF NOT EXISTS raw.session_event (
    event_id VARCHAR NOT NULL,
    organization_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL,
    app_id VARCHAR,
    branch_id VARCHAR,
    deploy_id VARCHAR,
    session_id VARCHAR,
    actor_id VARCHAR,
    source_runtime VARCHAR,
    source_detail VARCHAR,
    channel_id VARCHAR,
    flow_id VARCHAR,
    activity_id VARCHAR,
    device_class VARCHAR,
    browser VARCHAR,
    os VARCHAR,
    screen_width INTEGER,
    screen_height INTEGER,
    duration_millis BIGINT,
    action_id VARCHAR,
    action_name VARCHAR,
    status VARCHAR,
    code VARCHAR,
    message VARCHAR,
    custom_metric_key VARCHAR,
    custom_metric_field VARCHAR,
    custom_metric_value JSON,
    analytics_event_name VARCHAR,
    analytics_event_properties JSON,
    payload JSON NOT NULL,
    _source_file VARCHAR NOT NULL,
    _line_number BIGINT NOT NULL,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.audit_event (
    event_id VARCHAR NOT NULL,
    organization_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL,
    app_id VARCHAR,
    user_id VARCHAR,
    email VARCHAR,
    resource_type VARCHAR,
    resource_id VARCHAR,
    login_type VARCHAR,
    domain VARCHAR,
    role_id VARCHAR,
    api_key_id VARCHAR,
    payload JSON NOT NULL,
    _source_file VARCHAR NOT NULL,
    _line_number BIGINT NOT NULL,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.platform_event (
    event_id VARCHAR NOT NULL,
    organization_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL,
    app_id VARCHAR,
    service VARCHAR,
    service_version VARCHAR,
    status VARCHAR,
    message VARCHAR,
    connection_id VARCHAR,
    group_id VARCHAR,
    duration_millis BIGINT,
    payload JSON NOT NULL,
    _source_file VARCHAR NOT NULL,
    _line_number BIGINT NOT NULL,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
);

-- Lines that failed validation, byte for byte (BLOB keeps invalid UTF-8), with where they came from.
CREATE TABLE IF NOT EXISTS raw.quarantined_event (
    raw_line BLOB NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    source_file VARCHAR NOT NULL,
    line_number BIGINT NOT NULL,
    batch_id VARCHAR NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    replayed_batch_id VARCHAR
);

-- One row per landing file ever loaded: re-running an interval skips these.
CREATE TABLE IF NOT EXISTS ops.loaded_file (
    source_file VARCHAR NOT NULL PRIMARY KEY,
    interval_start TIMESTAMP NOT NULL,
    batch_id VARCHAR NOT NULL,
    file_bytes BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    loaded BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);

-- One row per load attempt of an interval (each Airflow run), including ones that found nothing new.
CREATE TABLE IF NOT EXISTS ops.load_batch (
    batch_id VARCHAR NOT NULL PRIMARY KEY,
    interval_start TIMESTAMP NOT NULL,
    dag_id VARCHAR,
    run_id VARCHAR,
    files_seen BIGINT NOT NULL,
    files_loaded BIGINT NOT NULL,
    files_skipped BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    loaded BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL
);
