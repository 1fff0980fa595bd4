-- One chunk of a unit's Audit events, as the deliveries read them (see delivery_session_events.sql: the same order
-- and chunks; Audit events have no session). Parameters: $commit_seq, $organization_id, $interval_start,
-- $after_session, $after_event, $chunk.
select
    audit_event.organization_id,
    audit_event.event_id,
    audit_event.event_time,
    audit_event.event_type,
    audit_event.app_id,
    null as branch_id,
    null as deploy_id,
    null as session_id,
    null as analytics_event_name,
    null as analytics_event_properties,
    audit_event.payload,
    audit_event._source_file as source_file,
    audit_event._batch_id as batch_id
from raw.audit_event
inner join ops.loaded_file
    on audit_event._source_file = loaded_file.source_file
where
    audit_event._commit_seq = $commit_seq
    and audit_event.organization_id = $organization_id
    and loaded_file.interval_start = cast($interval_start as timestamp without time zone)
    and $after_session = ''
    and audit_event.event_id > $after_event
order by audit_event.event_id
limit $chunk;
