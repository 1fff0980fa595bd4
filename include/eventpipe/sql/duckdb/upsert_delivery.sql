-- One ledger row per destination, organization, kind, interval and part: the latest outcome replaces the last.
-- Positional parameters (executemany), in the order of the columns below.
insert or replace into ops.delivery (
    destination, destination_type, organization_id, kind, interval_start, part, target, status, events,
    delivered, dead_lettered, bytes, attempts, possible_duplicates, ack_ids, checksum, delivered_ids, error,
    run_id, updated_at
)
values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
