-- One row per landing file quarantined whole (it could not be read to its end), per attempt.
-- `$name` parameters are DuckDB syntax that sqlfluff's lexer cannot read: see validate_chunk.sql.
-- noqa: disable=LXR,PRS
insert into ops.quarantined_file
values (
    $source_file, $interval_start, $reason, $detail, $file_bytes, $file_version, $batch_id, $quarantined_at
);
-- noqa: enable=LXR,PRS
