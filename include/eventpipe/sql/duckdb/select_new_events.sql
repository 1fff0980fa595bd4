-- Which valid staged lines are new events: the first copy of each event_id in this batch
-- (earliest file, then line), and only if no earlier batch loaded that event_id into any raw table.
--
-- Dedup in O(new): a re-sent event keeps its eventTime (an event is its eventId, and a re-send is the same
-- event), so an earlier copy of any of the batch's events has an event_time between the batch's earliest and
-- latest, give or take a day (set_new_event_window.sql, run first). History is read only in that window:
-- the raw tables are inserted in event_time order per load, so DuckDB's row-group zone maps skip every other
-- row group (tests/unit/test_dedup_pruning.py checks the plan). A copy re-sent with an eventTime moved outside that
-- window is not caught (README, "Dedup").
create or replace temp table new_event as
with first_copy as (
    select
        source_file,
        line_number,
        event_id
    from staged_line
    where reason is null
    qualify row_number() over (partition by event_id order by source_file, line_number) = 1
),

history as (
    select event_id from raw.session_event
    where event_time between getvariable('new_event_window_start') and getvariable('new_event_window_end')
    union all
    select event_id from raw.audit_event
    where event_time between getvariable('new_event_window_start') and getvariable('new_event_window_end')
    union all
    select event_id from raw.platform_event
    where event_time between getvariable('new_event_window_start') and getvariable('new_event_window_end')
)

select
    first_copy.source_file,
    first_copy.line_number
from first_copy
anti join history on first_copy.event_id = history.event_id;
