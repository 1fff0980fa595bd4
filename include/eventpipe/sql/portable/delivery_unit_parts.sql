-- The ledger rows of one unit at one destination, by part. Parameters: $destination, $organization_id, $kind,
-- $commit_seq, $interval_start.
select
    part,
    status,
    events,
    delivered,
    dead_lettered,
    channel,
    ack_ids,
    attempts,
    possible_duplicates,
    checksum,
    delivered_ids,
    updated_at
from ops.delivery_part
where
    destination = $destination
    and organization_id = $organization_id
    and kind = $kind
    and commit_seq = $commit_seq
    and interval_start = cast($interval_start as timestamp without time zone)
order by part;
