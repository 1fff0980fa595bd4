-- Raw and ops tables of the Snowflake warehouse (the same tables as sql/duckdb/create_tables.sql).
-- Idempotent: run before every load. event_time is UTC as TIMESTAMP_NTZ, as the platform documents;
-- payload and the JSON-valued columns are VARIANT.
create schema if not exists raw;
create schema if not exists ops;

create table if not exists raw.session_event (
    event_id varchar not null,
    organization_id varchar not null,
    event_time timestamp_ntz not null,
    event_type varchar not null,
    app_id varchar,
    branch_id varchar,
    deploy_id varchar,
    session_id varchar,
    actor_id varchar,
    source_runtime varchar,
    source_detail varchar,
    channel_id varchar,
    flow_id varchar,
    activity_id varchar,
    device_class varchar,
    browser varchar,
    os varchar,
    screen_width integer,
    screen_height integer,
    duration_millis bigint,
    action_id varchar,
    action_name varchar,
    status varchar,
    code varchar,
    message varchar,
    custom_metric_key varchar,
    custom_metric_field varchar,
    custom_metric_value variant,
    analytics_event_name varchar,
    analytics_event_properties variant,
    payload variant not null,
    _source_file varchar not null,
    _line_number bigint not null,
    _batch_id varchar not null,
    _loaded_at timestamp_ntz not null,  -- the loader's clock: information only, never a handover
    _commit_seq number not null  -- the load commit that inserted the row (ops.load_commit)
)
cluster by (to_date(event_time));

create table if not exists raw.audit_event (
    event_id varchar not null,
    organization_id varchar not null,
    event_time timestamp_ntz not null,
    event_type varchar not null,
    app_id varchar,
    user_id varchar,
    email varchar,
    resource_type varchar,
    resource_id varchar,
    login_type varchar,
    domain varchar,
    role_id varchar,
    api_key_id varchar,
    payload variant not null,
    _source_file varchar not null,
    _line_number bigint not null,
    _batch_id varchar not null,
    _loaded_at timestamp_ntz not null,  -- the loader's clock: information only, never a handover
    _commit_seq number not null  -- the load commit that inserted the row (ops.load_commit)
)
cluster by (to_date(event_time));

create table if not exists raw.platform_event (
    event_id varchar not null,
    organization_id varchar not null,
    event_time timestamp_ntz not null,
    event_type varchar not null,
    app_id varchar,
    service varchar,
    service_version varchar,
    status varchar,
    message varchar,
    connection_id varchar,
    group_id varchar,
    duration_millis bigint,
    payload variant not null,
    _source_file varchar not null,
    _line_number bigint not null,
    _batch_id varchar not null,
    _loaded_at timestamp_ntz not null,  -- the loader's clock: information only, never a handover
    _commit_seq number not null  -- the load commit that inserted the row (ops.load_commit)
)
cluster by (to_date(event_time));

-- Clustered by event date: a load's dedup reads history only in its event-time window, and Snowflake
-- prunes the micro-partitions outside it (insert_*_event.sql). ALTER for tables created before the clustering.
alter table raw.session_event cluster by (to_date(event_time));
alter table raw.audit_event cluster by (to_date(event_time));
alter table raw.platform_event cluster by (to_date(event_time));

-- Lines that failed validation, byte for byte (BINARY keeps invalid UTF-8), with where they came from.
create table if not exists raw.quarantined_event (
    raw_line binary not null,
    reason varchar not null,
    detail varchar,
    source_file varchar not null,
    line_number bigint not null,
    batch_id varchar not null,
    quarantined_at timestamp_ntz not null,
    replayed_batch_id varchar,
    commit_seq number not null  -- the load commit that quarantined the line
);

-- One row per landing file ever loaded: re-running an interval skips these.
create table if not exists ops.loaded_file (
    source_file varchar not null,
    interval_start timestamp_ntz not null,
    batch_id varchar not null,
    file_bytes bigint not null,
    lines bigint not null,
    loaded bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    loaded_at timestamp_ntz not null,
    commit_seq number not null  -- the load commit that ledgered the file
);

-- One row per load attempt of an interval (each Airflow run), including ones that found nothing new.
create table if not exists ops.load_batch (
    batch_id varchar not null,
    interval_start timestamp_ntz not null,
    dag_id varchar,
    run_id varchar,
    files_seen bigint not null,
    files_loaded bigint not null,
    files_skipped bigint not null,
    lines bigint not null,
    loaded bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    started_at timestamp_ntz not null,
    finished_at timestamp_ntz not null
);

-- Load tables' templates: each load COPYs its validated group (Parquet) into tables of its own made like these
-- (create_load_tables.sql), then inserts the new rows into the raw tables above in its commit's transaction.
-- Transient (no fail-safe; they only ever hold one group). JSON columns arrive as text and are parsed by the
-- insert: Parquet strings would load as VARIANT strings.
create transient table if not exists raw.session_event_stage (
    event_id varchar,
    organization_id varchar,
    event_time timestamp_ntz,
    event_type varchar,
    app_id varchar,
    branch_id varchar,
    deploy_id varchar,
    session_id varchar,
    actor_id varchar,
    source_runtime varchar,
    source_detail varchar,
    channel_id varchar,
    flow_id varchar,
    activity_id varchar,
    device_class varchar,
    browser varchar,
    os varchar,
    screen_width integer,
    screen_height integer,
    duration_millis bigint,
    action_id varchar,
    action_name varchar,
    status varchar,
    code varchar,
    message varchar,
    custom_metric_key varchar,
    custom_metric_field varchar,
    custom_metric_value varchar,
    analytics_event_name varchar,
    analytics_event_properties varchar,
    payload varchar,
    _source_file varchar,
    _line_number bigint,
    _batch_id varchar,
    _loaded_at timestamp_ntz
);

create transient table if not exists raw.audit_event_stage (
    event_id varchar,
    organization_id varchar,
    event_time timestamp_ntz,
    event_type varchar,
    app_id varchar,
    user_id varchar,
    email varchar,
    resource_type varchar,
    resource_id varchar,
    login_type varchar,
    domain varchar,
    role_id varchar,
    api_key_id varchar,
    payload varchar,
    _source_file varchar,
    _line_number bigint,
    _batch_id varchar,
    _loaded_at timestamp_ntz
);

create transient table if not exists raw.platform_event_stage (
    event_id varchar,
    organization_id varchar,
    event_time timestamp_ntz,
    event_type varchar,
    app_id varchar,
    service varchar,
    service_version varchar,
    status varchar,
    message varchar,
    connection_id varchar,
    group_id varchar,
    duration_millis bigint,
    payload varchar,
    _source_file varchar,
    _line_number bigint,
    _batch_id varchar,
    _loaded_at timestamp_ntz
);

create transient table if not exists raw.quarantined_event_stage (
    raw_line binary,
    reason varchar,
    detail varchar,
    source_file varchar,
    line_number bigint,
    batch_id varchar,
    quarantined_at timestamp_ntz,
    replayed_batch_id varchar
);

-- Where the loader PUTs a group's Parquet files (COPY ... PURGE removes them once loaded).
create stage if not exists raw.load_stage file_format = (type = parquet);

-- Landing files that could not be read to their end (truncated or corrupt compression, an unsupported
-- compression, gone since listed): none of their lines load. One row per attempt that found the file so;
-- a file in ops.loaded_file (a fixed copy loaded later) is no longer quarantined.
create table if not exists ops.quarantined_file (
    source_file varchar not null,
    interval_start timestamp_ntz not null,
    reason varchar not null,
    detail varchar,
    file_bytes bigint not null,
    file_version varchar not null,  -- the listing's version of the file (mtime or ETag)
    batch_id varchar not null,
    quarantined_at timestamp_ntz not null
);

-- The loads whose own load tables (raw.<table>_stage_<token>) exist now: a row per load from their creation to
-- their drop. A loader killed in between (SIGKILL, a lost worker) leaves its row, and the next load drops what
-- it left once the row is older than any load takes (eventpipe.warehouse.snowflake_tables).
create table if not exists ops.load_in_progress (
    token varchar not null,
    holder varchar not null,
    started_at timestamp_ntz not null
);

-- The handover between stages (eventpipe.warehouse.commits; sql/duckdb/create_tables.sql says the same): every load
-- and quarantine replay commits its rows, ledger rows and one ops.load_commit row in one transaction that first
-- updates ops.load_sequence's one row, which no other transaction can update before it ends (Snowflake holds the
-- row's lock until commit or rollback, and aborts an idle transaction whose client died once it blocks another).
-- Commits are serialized by the warehouse and numbered in commit order; no clock hands anything over.
create table if not exists ops.load_sequence (
    sequence_name varchar not null,
    last_value number not null
);

insert into ops.load_sequence (sequence_name, last_value)
select
    'load_commit' as sequence_name,
    0 as last_value
where
    not exists (
        select 1 from ops.load_sequence
        where sequence_name = 'load_commit'
    );

create table if not exists ops.load_commit (
    commit_seq number not null,
    batch_id varchar not null,  -- the load attempt (or replay) the commit belongs to
    commit_kind varchar not null,  -- load | replay
    files number not null,  -- landing files ledgered by it
    lines number not null,
    loaded number not null,
    duplicates number not null,
    quarantined number not null,
    committed_at timestamp_ntz not null  -- the loader's clock: information only
);

-- What each load commit holds, per organization, kind and arrival hour: what the deliveries take next (a unit of
-- delivery is one row here; eventpipe.deliver.units). Written in the commit's own transaction. kind: Session, Audit,
-- Platform, and analytics (the Session events of type analytics_event, counted in Session too).
create table if not exists ops.load_commit_unit (
    commit_seq number not null,
    organization_id varchar not null,
    kind varchar not null,
    interval_start timestamp_ntz not null,
    events number not null
);

-- Warehouses created before the commit sequence: their rows count as commit 0, absorbed by any first build.
alter table raw.session_event add column if not exists _commit_seq number default 0;
alter table raw.audit_event add column if not exists _commit_seq number default 0;
alter table raw.platform_event add column if not exists _commit_seq number default 0;
alter table raw.quarantined_event add column if not exists commit_seq number default 0;
alter table ops.loaded_file add column if not exists commit_seq number default 0;
