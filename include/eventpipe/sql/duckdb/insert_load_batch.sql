-- One ledger row per load attempt of an interval, including attempts that found nothing new.
-- `$name` parameters are DuckDB syntax that sqlfluff's lexer cannot read: see validate_chunk.sql.
-- noqa: disable=LXR,PRS
insert into ops.load_batch
values (
    $batch_id, $interval_start, $dag_id, $run_id, $files_seen, $files_loaded, $files_skipped,
    $lines, $loaded, $duplicates, $quarantined, $started_at, $finished_at
);
-- noqa: enable=LXR,PRS
