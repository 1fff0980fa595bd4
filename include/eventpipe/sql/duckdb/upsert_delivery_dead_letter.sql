-- An event a destination refused, or the run did not send; the latest reason replaces an earlier one.
-- Positional parameters (executemany), in the order of the columns below.
insert or replace into ops.delivery_dead_letter (
    destination, event_id, organization_id, kind, interval_start, part, code, reason, recorded_at, commit_seq
)
values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
