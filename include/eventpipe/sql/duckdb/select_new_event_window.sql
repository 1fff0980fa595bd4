-- The staged group's event-time window (set_new_event_window.sql): what the Snowflake MERGEs bind.
select
    getvariable('new_event_window_start') as window_start,
    getvariable('new_event_window_end') as window_end;
