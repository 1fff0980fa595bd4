-- New Platform events of the batch into raw.platform_event. Parameters: $batch_id, $loaded_at.
-- `$name` parameters are DuckDB syntax that sqlfluff's DuckDB lexer cannot read (LXR), leaving the rest of
-- their expression unparsed (PRS): the lines holding them carry noqa. Full lint: see the root .sqlfluff.
insert into raw.platform_event
with extracted as (
    select
        staged_line.*,
        json_extract_string(staged_line.line_text, [
            '$.organizationId', '$.type', '$.appId', '$.service', '$.serviceVersion', '$.status', '$.message',
            '$.connectionId', '$.groupId', '$.durationMillis'
        ]) as v
    from staged_line
    -- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
    semi join new_event using (source_file, line_number)  -- noqa: ST07
    where staged_line.kind = 'Platform'
)

select
    event_id,
    v[1] as organization_id,
    event_time,
    v[2] as event_type,
    v[3] as app_id,
    v[4] as service,
    v[5] as service_version,
    v[6] as status,
    v[7] as message,
    v[8] as connection_id,
    v[9] as group_id,
    try_cast(v[10] as bigint) as duration_millis,
    line_text::json as payload,
    source_file as _source_file,
    line_number as _line_number,
    $batch_id as _batch_id,  -- noqa: LXR, PRS, LT02
    $loaded_at as _loaded_at  -- noqa: LXR
from extracted;
