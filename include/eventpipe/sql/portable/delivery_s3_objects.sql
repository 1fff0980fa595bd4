-- The objects delivered to an S3 destination for one organization and arrival hour, for its manifest: key, kind,
-- events, bytes, sha256, first and last event id. Parameters: $destination, $organization_id, $interval_start.
select
    target,
    kind,
    events - dead_lettered as events,
    bytes,
    checksum,
    first_event_id,
    last_event_id
from ops.delivery_part
where
    destination = $destination
    and organization_id = $organization_id
    and interval_start = cast($interval_start as timestamp without time zone)
    and status = 'delivered'
    and kind <> 'manifest'
    and delivered > 0
order by target;
