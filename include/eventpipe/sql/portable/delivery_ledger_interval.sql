-- What the ledger holds for one destination and interval. Parameters: $destination, $interval_start.
select
    delivery.organization_id,
    delivery.kind,
    delivery.part,
    delivery.status,
    delivery.checksum,
    delivery.attempts,
    delivery.possible_duplicates,
    delivery.delivered_ids
from ops.delivery
where
    delivery.destination = $destination
    and delivery.interval_start = cast($interval_start as timestamp without time zone);
