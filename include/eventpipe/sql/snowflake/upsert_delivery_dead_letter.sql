-- One dead-letter row per destination and event: the latest reason replaces the last.
-- Positional parameters (executemany), in the order of the DuckDB file's columns.
merge into ops.delivery_dead_letter as existing
using (
    select
        ? as destination,
        ? as event_id,
        ? as organization_id,
        ? as kind,
        ?::timestamp_ntz as interval_start,
        ? as part,
        ? as code,
        ? as reason,
        ?::timestamp_ntz as recorded_at
) as dead
    on existing.destination = dead.destination and existing.event_id = dead.event_id
when matched then
    update set
        organization_id = dead.organization_id, kind = dead.kind, interval_start = dead.interval_start,
        part = dead.part, code = dead.code, reason = dead.reason, recorded_at = dead.recorded_at
when not matched then insert (
    destination, event_id, organization_id, kind, interval_start, part, code, reason, recorded_at
) values (
    dead.destination, dead.event_id, dead.organization_id, dead.kind, dead.interval_start, dead.part,
    dead.code, dead.reason, dead.recorded_at
);
