-- What the ledger holds for one destination and interval. Parameters: %(destination)s, %(interval_start)s.
-- Lint exception: RF04, `part` and `status` are plain column names here.
select
    delivery.organization_id,
    delivery.kind,
    delivery.part,  -- noqa: RF04
    delivery.status,  -- noqa: RF04
    delivery.checksum,
    delivery.attempts,
    delivery.possible_duplicates,
    delivery.delivered_ids
from ops.delivery
where delivery.destination = %(destination)s and delivery.interval_start = %(interval_start)s::timestamp_ntz;  -- noqa: PRS, LT05
