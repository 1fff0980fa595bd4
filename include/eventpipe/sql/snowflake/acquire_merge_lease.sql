-- Take the lease when it is free or expired: one UPDATE, so two loaders cannot both take it (Snowflake runs
-- UPDATEs of a table one at a time; the emulator's DuckDB rejects the second as a write conflict).
update ops.merge_lease
set holder = $holder, expires_at = $expires_at
where lease_name = 'raw_merge' and (holder is null or expires_at < $now);
