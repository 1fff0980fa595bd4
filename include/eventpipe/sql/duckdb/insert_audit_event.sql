-- New Audit events of the batch into raw.audit_event. Parameters: $batch_id, $loaded_at.
INSERT INTO raw.audit_event
WITH extracted AS (
    SELECT
        staged_line.*,
        json_extract_string(line_text, [
            '$.organizationId', '$.type', '$.appId', '$.userId', '$.email', '$.resourceType', '$.resourceId',
            '$.loginType', '$.domain', '$.roleId', '$.apiKeyId'
        ]) AS v
    FROM staged_line
    SEMI JOIN new_event USING (source_file, line_number)
    WHERE staged_line.kind = 'Audit'
)

SELECT
    event_id,
    v[1] AS organization_id,
    event_time,
    v[2] AS event_type,
    v[3] AS app_id,
    v[4] AS user_id,
    v[5] AS email,
    v[6] AS resource_type,
    v[7] AS resource_id,
    v[8] AS login_type,
    v[9] AS domain,
    v[10] AS role_id,
    v[11] AS api_key_id,
    line_text::JSON AS payload,
    source_file AS _source_file,
    line_number AS _line_number,
    $batch_id AS _batch_id,
    $loaded_at AS _loaded_at
FROM extracted
ORDER BY event_time;
