-- New Session events of the batch into raw.session_event. Parameters: $batch_id, $loaded_at.
-- Optional fields are cast leniently (a wrong type becomes NULL); the whole object stays in payload.
INSERT INTO raw.session_event
WITH extracted AS (
    SELECT
        staged_line.*,
        json_extract_string(line_text, [
            '$.organizationId', '$.type', '$.appId', '$.branchId', '$.deployId', '$.sessionId', '$.actorId',
            '$.sourceRuntime', '$.sourceDetail', '$.channelId', '$.flowId', '$.activityId',
            '$.userAgent.deviceClass', '$.userAgent.browser', '$.userAgent.os', '$.screenWidth', '$.screenHeight',
            '$.durationMillis', '$.action.id', '$.action.name', '$.status', '$.code', '$.message',
            '$.customMetric.key', '$.customMetric.field', '$.analyticsEvent.event'
        ]) AS v,
        json_extract(line_text, ['$.customMetric.value', '$.analyticsEvent.properties']) AS j
    FROM staged_line
    SEMI JOIN new_event USING (source_file, line_number)
    WHERE staged_line.kind = 'Session'
)

SELECT
    event_id,
    v[1] AS organization_id,
    event_time,
    v[2] AS event_type,
    v[3] AS app_id,
    v[4] AS branch_id,
    v[5] AS deploy_id,
    v[6] AS session_id,
    v[7] AS actor_id,
    v[8] AS source_runtime,
    v[9] AS source_detail,
    v[10] AS channel_id,
    v[11] AS flow_id,
    v[12] AS activity_id,
    v[13] AS device_class,
    v[14] AS browser,
    v[15] AS os,
    try_cast(v[16] AS INTEGER) AS screen_width,
    try_cast(v[17] AS INTEGER) AS screen_height,
    try_cast(v[18] AS BIGINT) AS duration_millis,
    v[19] AS action_id,
    v[20] AS action_name,
    v[21] AS status,
    v[22] AS code,
    v[23] AS message,
    v[24] AS custom_metric_key,
    v[25] AS custom_metric_field,
    j[1] AS custom_metric_value,
    v[26] AS analytics_event_name,
    j[2] AS analytics_event_properties,
    line_text::JSON AS payload,
    source_file AS _source_file,
    line_number AS _line_number,
    $batch_id AS _batch_id,
    $loaded_at AS _loaded_at
FROM extracted
ORDER BY event_time;
