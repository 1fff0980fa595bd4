-- A unit the destination received whole. Positional parameters (executemany), in the order of the columns below.
insert or replace into ops.delivery_done (
    destination, organization_id, kind, commit_seq, interval_start, parts, events, delivered, dead_lettered, run_id,
    completed_at
)
values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
