-- The event-time window of the staged group's valid lines, which bounds the history its dedup reads
-- (select_new_events.sql, and the Snowflake MERGEs through select_new_event_window.sql). NULLs when none is valid.
-- PRS: SET VARIABLE is beyond sqlfluff's DuckDB grammar.
set variable new_event_window_start = (select min(event_time) from staged_line where reason is null);  -- noqa: PRS
set variable new_event_window_end = (select max(event_time) from staged_line where reason is null);  -- noqa: PRS
