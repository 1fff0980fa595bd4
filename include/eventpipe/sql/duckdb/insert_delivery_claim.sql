-- The claim for $holder, until $seconds from now by the warehouse's clock (after delete_delivery_claim.sql).
insert into ops.delivery_claim (destination, holder, claimed_at, expires_at)
select
    $destination as destination,
    $holder as holder,
    cast(current_timestamp as timestamp) as claimed_at,
    cast(current_timestamp as timestamp) + to_seconds(cast($seconds as bigint)) as expires_at;
