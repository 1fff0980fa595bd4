-- One ledger row per destination, organization, kind, interval and part: the latest outcome replaces the last.
-- Positional parameters (executemany), in the order of the DuckDB file's columns.
-- noqa: disable=PRS,LT01,LT02
merge into ops.delivery as existing
using (
    select
        %s as destination, %s as destination_type, %s as organization_id, %s as kind,
        %s::timestamp_ntz as interval_start, %s as part, %s as target, %s as status, %s as events,
        %s as delivered, %s as dead_lettered, %s as bytes, %s as attempts, %s as possible_duplicates,
        %s as ack_ids, %s as checksum, %s as delivered_ids, %s as error, %s as run_id,
        %s::timestamp_ntz as updated_at
) as outcome
on
    existing.destination = outcome.destination
    and existing.organization_id = outcome.organization_id
    and existing.kind = outcome.kind
    and existing.interval_start = outcome.interval_start
    and existing.part = outcome.part
when matched then update set
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
