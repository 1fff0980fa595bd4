-- The App Events (kind Session) of one arrival-hour interval, as the deliveries read them: the raw rows of
-- the landing files ledgered for that interval. A file's rows never change once loaded, so this set is stable
-- across re-runs. Parameter: $interval_start.
select
    session_event.organization_id,
    session_event.event_id,
    session_event.event_time,
    session_event.event_type,
    session_event.app_id,
    session_event.branch_id,
    session_event.deploy_id,
    session_event.session_id,
    session_event.analytics_event_name,
    session_event.analytics_event_properties,
    session_event.payload,
    session_event._source_file as source_file,
    session_event._batch_id as batch_id
from raw.session_event
inner join ops.loaded_file
    on session_event._source_file = loaded_file.source_file
where loaded_file.interval_start = cast($interval_start as timestamp without time zone)
order by session_event.organization_id, session_event.event_id;
