-- One ledger row per loaded landing file (an empty file too, so it is not re-read forever).
-- `$name` parameters are DuckDB syntax that sqlfluff's lexer cannot read: see validate_chunk.sql.
-- noqa: disable=LXR,PRS
insert into ops.loaded_file
values (
    $source_file, $interval_start, $batch_id, $file_bytes, $lines, $loaded, $duplicates, $quarantined,
    $loaded_at
);
-- noqa: enable=LXR,PRS
