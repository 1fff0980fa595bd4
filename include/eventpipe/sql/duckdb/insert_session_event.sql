-- New Session events of the batch into raw.session_event, read from the columns validate_chunk.sql extracted.
-- Parameters: $batch_id, $loaded_at, $commit_seq (the group's load commit). Rows go in event_time order, so that
-- each row group's zone map covers a narrow range of event times and a later load's dedup (select_new_events.sql)
-- skips the rest of history.
insert into raw.session_event
select
    staged_line.event_id,
    staged_line.organization_id,
    staged_line.event_time,
    staged_line.event_type,
    staged_line.app_id,
    staged_line.branch_id,
    staged_line.deploy_id,
    staged_line.session_id,
    staged_line.actor_id,
    staged_line.source_runtime,
    staged_line.source_detail,
    staged_line.channel_id,
    staged_line.flow_id,
    staged_line.activity_id,
    staged_line.device_class,
    staged_line.browser,
    staged_line.os,
    staged_line.screen_width,
    staged_line.screen_height,
    staged_line.duration_millis,
    staged_line.action_id,
    staged_line.action_name,
    staged_line.status,
    staged_line.code,
    staged_line.message,
    staged_line.custom_metric_key,
    staged_line.custom_metric_field,
    staged_line.custom_metric_value,
    staged_line.analytics_event_name,
    staged_line.analytics_event_properties,
    staged_line.payload,
    staged_line.source_file as _source_file,
    staged_line.line_number as _line_number,
    $batch_id as _batch_id,
    $loaded_at as _loaded_at,
    $commit_seq as _commit_seq
from staged_line
-- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
semi join new_event using (source_file, line_number)  -- noqa: ST07
where staged_line.kind = 'Session'
order by staged_line.event_time;
