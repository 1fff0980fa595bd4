-- The second half of replacing a unit's done row (delete_delivery_done.sql first). Positional parameters.
insert into ops.delivery_done (
    destination, organization_id, kind, commit_seq, interval_start, parts, events, delivered, dead_lettered, run_id,
    completed_at
)
values (?, ?, ?, ?, ?::timestamp_ntz, ?, ?, ?, ?, ?, ?::timestamp_ntz);
