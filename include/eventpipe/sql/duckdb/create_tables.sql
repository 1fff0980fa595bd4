-- Raw and ops tables of the DuckDB warehouse. Idempotent: run before every load.
-- event_time is UTC stored as a naive TIMESTAMP (Snowflake: TIMESTAMP_NTZ), as the platform documents.
create schema if not exists raw;
create schema if not exists ops;

create table if not exists raw.session_event (
    event_id varchar not null,
    organization_id varchar not null,
    event_time timestamp not null,
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
    custom_metric_value json,
    analytics_event_name varchar,
    analytics_event_properties json,
    payload json not null,
    _source_file varchar not null,
    _line_number bigint not null,
    _batch_id varchar not null,
    _loaded_at timestamp not null,  -- the loader's clock: information only, never a handover
    _commit_seq bigint not null  -- the load commit that inserted the row (ops.load_commit)
);

create table if not exists raw.audit_event (
    event_id varchar not null,
    organization_id varchar not null,
    event_time timestamp not null,
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
    payload json not null,
    _source_file varchar not null,
    _line_number bigint not null,
    _batch_id varchar not null,
    _loaded_at timestamp not null,  -- the loader's clock: information only, never a handover
    _commit_seq bigint not null  -- the load commit that inserted the row (ops.load_commit)
);

create table if not exists raw.platform_event (
    event_id varchar not null,
    organization_id varchar not null,
    event_time timestamp not null,
    event_type varchar not null,
    app_id varchar,
    service varchar,
    service_version varchar,
    status varchar,
    message varchar,
    connection_id varchar,
    group_id varchar,
    duration_millis bigint,
    payload json not null,
    _source_file varchar not null,
    _line_number bigint not null,
    _batch_id varchar not null,
    _loaded_at timestamp not null,  -- the loader's clock: information only, never a handover
    _commit_seq bigint not null  -- the load commit that inserted the row (ops.load_commit)
);

-- Lines that failed validation, byte for byte (BLOB keeps invalid UTF-8), with where they came from.
create table if not exists raw.quarantined_event (
    raw_line blob not null,
    reason varchar not null,
    detail varchar,
    source_file varchar not null,
    line_number bigint not null,
    batch_id varchar not null,
    quarantined_at timestamp not null,
    replayed_batch_id varchar,
    commit_seq bigint not null  -- the load commit that quarantined the line
);

-- One row per landing file ever loaded: re-running an interval skips these.
create table if not exists ops.loaded_file (
    source_file varchar not null primary key,
    interval_start timestamp not null,
    batch_id varchar not null,
    file_bytes bigint not null,
    lines bigint not null,
    loaded bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    loaded_at timestamp not null,
    commit_seq bigint not null  -- the load commit that ledgered the file
);

-- One row per load attempt of an interval (each Airflow run), including ones that found nothing new.
create table if not exists ops.load_batch (
    batch_id varchar not null primary key,
    interval_start timestamp not null,
    dag_id varchar,
    run_id varchar,
    files_seen bigint not null,
    files_loaded bigint not null,
    files_skipped bigint not null,
    lines bigint not null,
    loaded bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    started_at timestamp not null,
    finished_at timestamp not null
);

-- Landing files that could not be read to their end (truncated or corrupt compression, an unsupported
-- compression, gone since listed): none of their lines load. One row per attempt that found the file so;
-- a file in ops.loaded_file (a fixed copy loaded later) is no longer quarantined.
create table if not exists ops.quarantined_file (
    source_file varchar not null,
    interval_start timestamp not null,
    reason varchar not null,
    detail varchar,
    file_bytes bigint not null,
    file_version varchar not null,  -- the listing's version of the file (mtime or ETag)
    batch_id varchar not null,
    quarantined_at timestamp not null
);

-- The handover between stages: every load (and quarantine replay) commits its rows, its ledger rows and one
-- ops.load_commit row in one transaction, numbered by ops.load_sequence, whose one row it updates first. Two
-- writers cannot both update that row (DuckDB aborts the second, Snowflake makes it wait for the lock), so
-- commits are serialized by the warehouse and numbered in commit order: when commit n is visible, so is every
-- commit before it. What a later stage takes next is decided by these numbers, never by a clock.
create table if not exists ops.load_sequence (
    sequence_name varchar not null primary key,
    last_value bigint not null
);

insert into ops.load_sequence
select
    'load_commit' as sequence_name,
    0 as last_value
where
    not exists (
        select 1 from ops.load_sequence
        where sequence_name = 'load_commit'
    );

create table if not exists ops.load_commit (
    commit_seq bigint not null primary key,
    batch_id varchar not null,  -- the load attempt (or replay) the commit belongs to
    commit_kind varchar not null,  -- load | replay
    files bigint not null,  -- landing files ledgered by it
    lines bigint not null,
    loaded bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    committed_at timestamp not null  -- the loader's clock: information only
);

-- What each load commit holds, per organization, kind and arrival hour: what the deliveries take next (a unit of
-- delivery is one row here; eventpipe.deliver.units). Written in the commit's own transaction. kind: Session, Audit,
-- Platform, and analytics (the Session events of type analytics_event, counted in Session too).
create table if not exists ops.load_commit_unit (
    commit_seq bigint not null,
    organization_id varchar not null,
    kind varchar not null,
    interval_start timestamp not null,
    events bigint not null
);

-- Warehouses created before the commit sequence: their rows count as commit 0, absorbed by any first build.
alter table raw.session_event add column if not exists _commit_seq bigint default 0;
alter table raw.audit_event add column if not exists _commit_seq bigint default 0;
alter table raw.platform_event add column if not exists _commit_seq bigint default 0;
alter table raw.quarantined_event add column if not exists commit_seq bigint default 0;
alter table ops.loaded_file add column if not exists commit_seq bigint default 0;
