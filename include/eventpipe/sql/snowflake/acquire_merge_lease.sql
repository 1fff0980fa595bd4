-- Take the lease when it is free or expired: one UPDATE, so two loaders cannot both take it (Snowflake runs
-- noqa: disable=PRS,LT01,LT02
-- UPDATEs of a table one at a time; the emulator's DuckDB rejects the second as a write conflict).
update ops.merge_lease
set holder = %(holder)s, expires_at = %(expires_at)s
where lease_name = 'raw_merge' and (holder is null or expires_at < %(now)s);
