-- The first statement of every load commit's transaction (eventpipe.warehouse.commits): take the next commit number
-- by updating the sequence's one row. A second writer cannot update that row until the first commits or rolls back
-- (Snowflake makes it wait for the row's lock; DuckDB aborts it with a write conflict, and it retries), so commits
-- are serialized by the warehouse itself and numbered in the order they commit.
update ops.load_sequence
set last_value = last_value + 1
where sequence_name = 'load_commit';
