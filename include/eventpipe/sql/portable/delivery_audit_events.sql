-- The Audit events of one arrival-hour interval, as the deliveries read them: the raw rows of the landing
-- files ledgered for that interval (stable across re-runs). Parameter: $interval_start.
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
where loaded_file.interval_start = cast($interval_start as timestamp without time zone)
order by audit_event.organization_id, audit_event.event_id;
