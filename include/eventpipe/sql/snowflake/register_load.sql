-- A load's own load tables are about to be created (eventpipe.warehouse.snowflake_tables).
insert into ops.load_in_progress (token, holder, started_at)
values ($token, $holder, $started_at);
