-- Dedup, first step (validate.select_new_events): the staged group's first copy of each event_id, and the
-- event-time windows its dedup reads history in.
--
-- first_copy: the first copy of each event_id among the group's valid lines (earliest file, then line).
--
-- new_event_window: a re-sent event keeps its eventTime (an event is its eventId, and a re-send is the same
-- event), so an earlier copy of an event lies near that event's own time. The group's event days are merged
-- into islands (days at most 3 apart share one), and each island is one window: its core, from the first day's
-- midnight to the midnight after its last day (core_end excluded), widened by a day on each side (a producer's
-- clock, a re-serialised offset). A group of this hour with one event from 300 days ago has two narrow windows,
-- not one that spans 300 days of history: what a load reads grows with the days its events fall on, not with
-- history.
create or replace temp table first_copy as
select
    source_file,
    line_number,
    event_id,
    event_time
from staged_line
where reason is null
qualify row_number() over (partition by event_id order by source_file, line_number) = 1;

create or replace temp table new_event_window as
with event_day as (
    select distinct date_trunc('day', event_time) as event_day
    from first_copy
),

day_gap as (
    select
        event_day,
        -- a day more than 3 days after the one before starts an island
        coalesce(event_day - lag(event_day) over (order by event_day) > interval 3 day, true) as starts_island
    from event_day
),

island as (
    select
        event_day,
        count_if(starts_island) over (order by event_day) as island
    from day_gap
)

-- Whole days (midnight to midnight): bounds that survive every engine's timestamp precision exactly, so each
-- line falls in exactly one core.
select
    row_number() over (order by min(event_day)) as window_number,
    min(event_day) as core_start,
    max(event_day) + interval 1 day as core_end,
    min(event_day) - interval 1 day as window_start,
    max(event_day) + interval 2 day as window_end
from island
group by island;

create or replace temp table new_event (
    source_file varchar not null,
    line_number bigint not null
);
