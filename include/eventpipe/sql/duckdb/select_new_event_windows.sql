-- The staged group's event-time windows (select_first_copies.sql): what the Snowflake MERGEs bind, one
-- window at a time.
select
    core_start,
    core_end,
    window_start,
    window_end
from new_event_window
order by window_number;
