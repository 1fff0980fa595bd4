-- Per-load scratch table: every line of the batch's new files, validated, and for a valid line every field
-- the raw tables keep, extracted once (validate_chunk.sql): the inserts read these columns, not JSON.
-- Dropped with the transaction's end.
create or replace temp table staged_line (
    source_file varchar not null,
    line_number bigint not null,
    raw_line blob,           -- kept only for quarantined lines
    reason varchar,          -- NULL when valid
    detail varchar,
    event_id varchar,        -- this and what follows: set only when valid
    kind varchar,
    event_time timestamp,
    organization_id varchar,
    event_type varchar,
    app_id varchar,
    session_id varchar,
    branch_id varchar,
    deploy_id varchar,
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
    user_id varchar,
    email varchar,
    resource_type varchar,
    resource_id varchar,
    login_type varchar,
    domain varchar,  -- noqa: RF04
    role_id varchar,
    api_key_id varchar,
    service varchar,
    service_version varchar,
    connection_id varchar,
    group_id varchar,
    payload json             -- the line itself (JSON text as landed)
);
