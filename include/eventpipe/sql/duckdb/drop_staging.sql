-- The per-group scratch tables, dropped before the group's transaction commits.
drop table staged_line;
drop table new_event;
