-- One chunk of a unit's Session events (or only its analytics events, $analytics_only), as the deliveries read them:
-- in (session, event id) order after the previous chunk's last row ($after_session, $after_event; '' and '' for the
-- first chunk), at most $chunk rows. A commit's rows never change, so the order and the parts cut from it are the
-- same on every run. Parameters: $commit_seq, $organization_id, $interval_start, $analytics_only, $after_session,
-- $after_event, $chunk.
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
where
    session_event._commit_seq = $commit_seq
    and session_event.organization_id = $organization_id
    and loaded_file.interval_start = cast($interval_start as timestamp without time zone)
    and (session_event.event_type = 'analytics_event' or not $analytics_only)
    and (
        coalesce(session_event.session_id, '') > $after_session
        or (coalesce(session_event.session_id, '') = $after_session and session_event.event_id > $after_event)
    )
order by coalesce(session_event.session_id, ''), session_event.event_id
limit $chunk;
