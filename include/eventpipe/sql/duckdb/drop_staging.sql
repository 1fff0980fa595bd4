-- The per-group scratch tables, dropped before the group's transaction commits.
drop table staged_line;
drop table first_copy;
drop table new_event_window;
drop table new_event;
