-- A load's own load tables are dropped.
delete from ops.load_in_progress
where token = $token;
