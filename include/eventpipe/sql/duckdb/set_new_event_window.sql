-- The event-time window the staged group's dedup reads history in (select_new_events.sql, and the Snowflake
-- MERGEs through select_new_event_window.sql): the earliest to the latest event_time of its valid lines,
-- widened by a day on each side, so that a re-send whose eventTime moved by up to a day (a producer's clock,
-- a re-serialised offset) is still caught. NULLs when no line is valid.
-- PRS: SET VARIABLE is beyond sqlfluff's DuckDB grammar.
set variable new_event_window_start = (  -- noqa: PRS
    select min(event_time) - interval 1 day from staged_line where reason is null
);
set variable new_event_window_end = (  -- noqa: PRS
    select max(event_time) + interval 1 day from staged_line where reason is null
);
