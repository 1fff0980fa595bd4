-- A load's own load tables are dropped.
-- noqa: disable=PRS
delete from ops.load_in_progress
where token = %(token)s;
