-- Extend the lease this loader holds (no row updated: it expired and another loader took it).
update ops.merge_lease
set expires_at = $expires_at
where lease_name = 'raw_merge' and holder = $holder;
