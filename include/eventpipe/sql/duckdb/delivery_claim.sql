-- Who holds the destination's delivery claim, until when, and the warehouse's time now (UTC): the claim expires by
-- this one clock, whichever worker asks. Parameter: $destination.
select
    cast(current_timestamp as timestamp) as now,
    max(holder) as holder,
    max(expires_at) as expires_at
from ops.delivery_claim
where destination = $destination;
