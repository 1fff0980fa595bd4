-- The bare-SQL floor of bench/ingest.py: the loader's own work done by DuckDB alone, in one statement and with no
-- validation. Each line is read as text, parsed once as JSON, the 43 envelope and kind fields the validator extracts
-- (include/eventpipe/sql/duckdb/validate_chunk.sql) are extracted and typed as the raw tables type them, the line is
-- kept as the payload, and all three kinds go to one persisted table. Parameters: $files (the landing files) and
-- $delimiter (a byte no JSON line holds, so each line is one column).
create table events as
with line as (
    select
        filename as source_file,
        text::json as payload
    from read_csv(
        $files,
        columns = {'text': 'VARCHAR'},
        header = false,
        delim = $delimiter,
        quote = '',
        escape = '',
        auto_detect = false,
        filename = true,
        max_line_size = 16000000
    )
),

fields as (
    select
        source_file,
        payload,
        json_extract_string(
            payload,
            [
                '$.eventId', '$.organizationId', '$.eventTime', '$.kind', '$.type', '$.appId', '$.sessionId',
                '$.customMetric.value', '$.analyticsEvent.properties',
                '$.branchId', '$.deployId', '$.actorId', '$.sourceRuntime', '$.sourceDetail', '$.channelId',
                '$.flowId', '$.activityId', '$.userAgent.deviceClass', '$.userAgent.browser', '$.userAgent.os',
                '$.screenWidth', '$.screenHeight', '$.durationMillis', '$.action.id', '$.action.name', '$.status',
                '$.code', '$.message', '$.customMetric.key', '$.customMetric.field', '$.analyticsEvent.event',
                '$.userId', '$.email', '$.resourceType', '$.resourceId', '$.loginType', '$.domain', '$.roleId',
                '$.apiKeyId',
                '$.service', '$.serviceVersion', '$.connectionId', '$.groupId'
            ]
        ) as v
    from line
)

select
    v[1] as event_id,
    v[2] as organization_id,
    coalesce(try(epoch_ms(try_cast(v[3] as bigint))), try_cast(v[3] as timestamptz)::timestamp) as event_time,
    v[4] as kind,
    v[5] as event_type,
    v[6] as app_id,
    v[7] as session_id,
    v[10] as branch_id,
    v[11] as deploy_id,
    v[12] as actor_id,
    v[13] as source_runtime,
    v[14] as source_detail,
    v[15] as channel_id,
    v[16] as flow_id,
    v[17] as activity_id,
    v[18] as device_class,
    v[19] as browser,
    v[20] as os,
    try_cast(v[21] as integer) as screen_width,
    try_cast(v[22] as integer) as screen_height,
    try_cast(v[23] as bigint) as duration_millis,
    v[24] as action_id,
    v[25] as action_name,
    v[26] as status,
    v[27] as code,
    v[28] as message,
    v[29] as custom_metric_key,
    v[30] as custom_metric_field,
    try_cast(v[8] as json) as custom_metric_value,
    v[31] as analytics_event_name,
    try_cast(v[9] as json) as analytics_event_properties,
    v[32] as user_id,
    v[33] as email,
    v[34] as resource_type,
    v[35] as resource_id,
    v[36] as login_type,
    v[37] as domain,
    v[38] as role_id,
    v[39] as api_key_id,
    v[40] as service,
    v[41] as service_version,
    v[42] as connection_id,
    v[43] as group_id,
    payload,
    source_file
from fields
