-- One ledger row per destination, organization, kind, interval and part: the latest outcome replaces the last.
-- Positional parameters (executemany), in the order of the DuckDB file's columns.
merge into ops.delivery as existing
using (
    select
        ? as destination,
        ? as destination_type,
        ? as organization_id,
        ? as kind,
        ?::timestamp_ntz as interval_start,
        ? as part,
        ? as target,
        ? as status,
        ? as events,
        ? as delivered,
        ? as dead_lettered,
        ? as bytes,
        ? as attempts,
        ? as possible_duplicates,
        ? as ack_ids,
        ? as checksum,
        ? as delivered_ids,
        ? as error,
        ? as run_id,
        ?::timestamp_ntz as updated_at
) as outcome
    on
        existing.destination = outcome.destination
        and existing.organization_id = outcome.organization_id
        and existing.kind = outcome.kind
        and existing.interval_start = outcome.interval_start
        and existing.part = outcome.part
when matched then
    update set
        destination_type = outcome.destination_type, target = outcome.target, status = outcome.status,
        events = outcome.events, delivered = outcome.delivered, dead_lettered = outcome.dead_lettered,
        bytes = outcome.bytes, attempts = outcome.attempts, possible_duplicates = outcome.possible_duplicates,
        ack_ids = outcome.ack_ids, checksum = outcome.checksum, delivered_ids = outcome.delivered_ids,
        error = outcome.error, run_id = outcome.run_id, updated_at = outcome.updated_at
when not matched then insert (
    destination, destination_type, organization_id, kind, interval_start, part, target, status, events,
    delivered, dead_lettered, bytes, attempts, possible_duplicates, ack_ids, checksum, delivered_ids, error,
    run_id, updated_at
) values (
    outcome.destination, outcome.destination_type, outcome.organization_id, outcome.kind, outcome.interval_start,
    outcome.part, outcome.target, outcome.status, outcome.events, outcome.delivered, outcome.dead_lettered,
    outcome.bytes, outcome.attempts, outcome.possible_duplicates, outcome.ack_ids, outcome.checksum,
    outcome.delivered_ids, outcome.error, outcome.run_id, outcome.updated_at
);
