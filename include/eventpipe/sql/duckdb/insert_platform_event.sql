-- New Platform events of the batch into raw.platform_event, read from the columns validate_chunk.sql extracted.
-- Parameters: $batch_id, $loaded_at, $commit_seq (the group's load commit). Rows go in event_time order, so that
-- each row group's zone map covers a narrow range of event times and a later load's dedup (select_new_events.sql)
-- skips the rest of history.
insert into raw.platform_event
select
    staged_line.event_id,
    staged_line.organization_id,
    staged_line.event_time,
    staged_line.event_type,
    staged_line.app_id,
    staged_line.service,
    staged_line.service_version,
    staged_line.status,
    staged_line.message,
    staged_line.connection_id,
    staged_line.group_id,
    staged_line.duration_millis,
    staged_line.payload,
    staged_line.source_file as _source_file,
    staged_line.line_number as _line_number,
    $batch_id as _batch_id,
    $loaded_at as _loaded_at,
    $commit_seq as _commit_seq
from staged_line
-- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
semi join new_event using (source_file, line_number)  -- noqa: ST07
where staged_line.kind = 'Platform'
order by staged_line.event_time;
