-- One of the group's event-time windows (select_first_copies.sql), $window_number, as the variable
-- select_new_events.sql reads: a variable is a constant to DuckDB's planner, so the raw tables' zone maps
-- prune by it (a join with new_event_window would not).
-- PRS: SET VARIABLE is beyond sqlfluff's DuckDB grammar.
set variable new_event_window = (  -- noqa: PRS
    select {
        'core_start': core_start, 'core_end': core_end, 'window_start': window_start, 'window_end': window_end
    }
    from new_event_window
    where window_number = $window_number
);
