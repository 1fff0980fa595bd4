-- The claim for $holder, until $seconds from now by the warehouse's clock (after delete_delivery_claim.sql).
insert into ops.delivery_claim (destination, holder, claimed_at, expires_at)
select
    $destination as destination,
    $holder as holder,
    sysdate() as claimed_at,
    dateadd(second, $seconds, sysdate()) as expires_at;
