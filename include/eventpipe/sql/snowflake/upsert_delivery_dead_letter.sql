-- One dead-letter row per destination and event: the latest reason replaces the last.
-- Positional parameters (executemany), in the order of the DuckDB file's columns.
-- noqa: disable=PRS,LT01,LT02
merge into ops.delivery_dead_letter as existing
using (
    select
        %s as destination, %s as event_id, %s as organization_id, %s as kind,
        %s::timestamp_ntz as interval_start, %s as part, %s as code, %s as reason,
        %s::timestamp_ntz as recorded_at
) as dead
on existing.destination = dead.destination and existing.event_id = dead.event_id
when matched then update set
    organization_id = dead.organization_id, kind = dead.kind, interval_start = dead.interval_start,
    part = dead.part, code = dead.code, reason = dead.reason, recorded_at = dead.recorded_at
when not matched then insert (
    destination, event_id, organization_id, kind, interval_start, part, code, reason, recorded_at
) values (
    dead.destination, dead.event_id, dead.organization_id, dead.kind, dead.interval_start, dead.part,
    dead.code, dead.reason, dead.recorded_at
);
