-- New Session events of the batch into raw.session_event. Parameters: $batch_id, $loaded_at.
-- `$name` parameters are DuckDB syntax that sqlfluff's DuckDB lexer cannot read (LXR), leaving the rest of
-- their expression unparsed (PRS): the lines holding them carry noqa. Full lint: see the root .sqlfluff.
-- Optional fields are cast leniently (a wrong type becomes NULL); the whole object stays in payload.
insert into raw.session_event
with extracted as (
    select
        staged_line.*,
        json_extract_string(staged_line.line_text, [
            '$.organizationId', '$.type', '$.appId', '$.branchId', '$.deployId', '$.sessionId', '$.actorId',
            '$.sourceRuntime', '$.sourceDetail', '$.channelId', '$.flowId', '$.activityId',
            '$.userAgent.deviceClass', '$.userAgent.browser', '$.userAgent.os', '$.screenWidth', '$.screenHeight',
            '$.durationMillis', '$.action.id', '$.action.name', '$.status', '$.code', '$.message',
            '$.customMetric.key', '$.customMetric.field', '$.analyticsEvent.event'
        ]) as v,
        json_extract(staged_line.line_text, ['$.customMetric.value', '$.analyticsEvent.properties']) as j
    from staged_line
    -- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
    semi join new_event using (source_file, line_number)  -- noqa: ST07
    where staged_line.kind = 'Session'
)

select
    event_id,
    v[1] as organization_id,
    event_time,
    v[2] as event_type,
    v[3] as app_id,
    v[4] as branch_id,
    v[5] as deploy_id,
    v[6] as session_id,
    v[7] as actor_id,
    v[8] as source_runtime,
    v[9] as source_detail,
    v[10] as channel_id,
    v[11] as flow_id,
    v[12] as activity_id,
    v[13] as device_class,
    v[14] as browser,
    v[15] as os,
    try_cast(v[16] as integer) as screen_width,
    try_cast(v[17] as integer) as screen_height,
    try_cast(v[18] as bigint) as duration_millis,
    v[19] as action_id,
    v[20] as action_name,
    v[21] as status,
    v[22] as code,
    v[23] as message,
    v[24] as custom_metric_key,
    v[25] as custom_metric_field,
    j[1] as custom_metric_value,
    v[26] as analytics_event_name,
    j[2] as analytics_event_properties,
    line_text::json as payload,
    source_file as _source_file,
    line_number as _line_number,
    $batch_id as _batch_id,  -- noqa: LXR, PRS, LT02
    $loaded_at as _loaded_at  -- noqa: LXR
from extracted;
