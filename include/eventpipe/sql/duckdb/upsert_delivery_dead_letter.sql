-- An event a destination refused as invalid; the latest reason replaces an earlier one.
-- Positional parameters (executemany); the linter's DuckDB lexer cannot read them.
-- noqa: disable=LXR,PRS
insert or replace into ops.delivery_dead_letter (
    destination, event_id, organization_id, kind, interval_start, part, code, reason, recorded_at
)
values (?, ?, ?, ?, ?, ?, ?, ?, ?);
-- noqa: enable=LXR,PRS
