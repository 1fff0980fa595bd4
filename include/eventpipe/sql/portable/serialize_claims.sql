-- The first statement of a transaction that takes or renews a delivery claim: it advances the claims' own counter
-- (the 'delivery_claim' row of ops.load_sequence), which no other transaction can do before this one ends: DuckDB
-- aborts the second writer (a conflict, retried; the snapshot is taken by this first statement, so the retry sees
-- the claim the first wrote), Snowflake makes it wait for the table's lock. The counter must change: DuckDB finds
-- no conflict in an update that leaves the row as it was (2.0.1: two runs could both take a claim). Milliseconds.
update ops.load_sequence
set last_value = last_value + 1
where sequence_name = 'delivery_claim';
