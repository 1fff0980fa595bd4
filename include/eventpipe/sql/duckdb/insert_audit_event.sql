-- New Audit events of the batch into raw.audit_event. Parameters: $batch_id, $loaded_at.
-- `$name` parameters are DuckDB syntax that sqlfluff's DuckDB lexer cannot read (LXR), leaving the rest of
-- their expression unparsed (PRS): the lines holding them carry noqa. Full lint: see the root .sqlfluff.
insert into raw.audit_event
with extracted as (
    select
        staged_line.*,
        json_extract_string(staged_line.line_text, [
            '$.organizationId', '$.type', '$.appId', '$.userId', '$.email', '$.resourceType', '$.resourceId',
            '$.loginType', '$.domain', '$.roleId', '$.apiKeyId'
        ]) as v
    from staged_line
    -- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
    semi join new_event using (source_file, line_number)  -- noqa: ST07
    where staged_line.kind = 'Audit'
)

select
    event_id,
    v[1] as organization_id,
    event_time,
    v[2] as event_type,
    v[3] as app_id,
    v[4] as user_id,
    v[5] as email,
    v[6] as resource_type,
    v[7] as resource_id,
    v[8] as login_type,
    -- RF04: `domain` is a keyword in sqlfluff's DuckDB grammar, and raw.audit_event's column name
    v[9] as domain,  -- noqa: RF04
    v[10] as role_id,
    v[11] as api_key_id,
    line_text::json as payload,
    source_file as _source_file,
    line_number as _line_number,
    $batch_id as _batch_id,  -- noqa: LXR, PRS, LT02
    $loaded_at as _loaded_at  -- noqa: LXR
from extracted;
