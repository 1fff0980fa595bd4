-- Dedup, per event-time window (set_new_event_window.sql, run first): the group's first copies whose
-- event_time lies in the window's core and that no earlier batch loaded into any raw table, into new_event.
--
-- History is read only within the window: the raw tables are inserted in event_time order per load, so
-- DuckDB's row-group zone maps skip every other row group (tests/ingest/test_dedup_pruning.py checks the plan).
-- A copy re-sent with an eventTime moved outside the window is not caught (README, "Dedup").
insert into new_event
with history as (
    select event_id from raw.session_event
    where event_time between getvariable('new_event_window').window_start and getvariable('new_event_window').window_end
    union all
    select event_id from raw.audit_event
    where event_time between getvariable('new_event_window').window_start and getvariable('new_event_window').window_end
    union all
    select event_id from raw.platform_event
    where event_time between getvariable('new_event_window').window_start and getvariable('new_event_window').window_end
)

select
    first_copy.source_file,
    first_copy.line_number
from first_copy
anti join history on first_copy.event_id = history.event_id
where
    first_copy.event_time >= getvariable('new_event_window').core_start
    and first_copy.event_time < getvariable('new_event_window').core_end;
