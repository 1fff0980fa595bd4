-- The second half of replacing a dead letter (delete_delivery_dead_letter.sql first). Positional parameters
-- (executemany), in the order of the columns below.
insert into ops.delivery_dead_letter (
    destination, event_id, organization_id, kind, interval_start, part, code, reason, recorded_at, commit_seq
)
values (?, ?, ?, ?, ?::timestamp_ntz, ?, ?, ?, ?::timestamp_ntz, ?);
