-- Give the lease back (only if this loader still holds it).
update ops.merge_lease
set holder = null, expires_at = null
where lease_name = 'raw_merge' and holder = $holder;
