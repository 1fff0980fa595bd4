-- New Platform events of the batch into raw.platform_event. Parameters: $batch_id, $loaded_at.
INSERT INTO raw.platform_event
WITH extracted AS (
    SELECT
        staged_line.*,
        json_extract_string(line_text, [
            '$.organizationId', '$.type', '$.appId', '$.service', '$.serviceVersion', '$.status', '$.message',
            '$.connectionId', '$.groupId', '$.durationMillis'
        ]) AS v
    FROM staged_line
    SEMI JOIN new_event USING (source_file, line_number)
    WHERE staged_line.kind = 'Platform'
)

SELECT
    event_id,
    v[1] AS organization_id,
    event_time,
    v[2] AS event_type,
    v[3] AS app_id,
    v[4] AS service,
    v[5] AS service_version,
    v[6] AS status,
    v[7] AS message,
    v[8] AS connection_id,
    v[9] AS group_id,
    try_cast(v[10] AS BIGINT) AS duration_millis,
    line_text::JSON AS payload,
    source_file AS _source_file,
    line_number AS _line_number,
    $batch_id AS _batch_id,
    $loaded_at AS _loaded_at
FROM extracted
ORDER BY event_time;
