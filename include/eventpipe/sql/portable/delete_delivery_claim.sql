-- Forget the destination's claim (before a new one is written, or when its holder releases it: $holder, or NULL for
-- whoever holds it).
delete from ops.delivery_claim
where destination = $destination and (holder = $holder or $holder is null);
