-- Extend the lease this loader holds (no row updated: it expired and another loader took it).
-- noqa: disable=PRS,LT01,LT02
update ops.merge_lease
set expires_at = %(expires_at)s
where lease_name = 'raw_merge' and holder = %(holder)s;
