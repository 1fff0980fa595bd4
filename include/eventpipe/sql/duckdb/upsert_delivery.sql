-- One ledger row per destination, organization, kind, interval and part: the latest outcome replaces the last.
-- Positional parameters (executemany); the linter's DuckDB lexer cannot read them.
-- noqa: disable=LXR,PRS
insert or replace into ops.delivery (
    destination, destination_type, organization_id, kind, interval_start, part, target, status, events,
    delivered, dead_lettered, bytes, attempts, possible_duplicates, ack_ids, checksum, delivered_ids, error,
    run_id, updated_at
)
values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
-- noqa: enable=LXR,PRS
