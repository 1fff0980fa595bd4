-- One ledger row per loaded landing file (an empty file too, so it is not re-read forever).
insert into ops.loaded_file
values (
    $source_file, $interval_start, $batch_id, $file_bytes, $lines, $loaded, $duplicates, $quarantined,
    $loaded_at, $commit_seq
);
