-- One ledger row per loaded landing file, in the load commit's transaction (which checked, after taking its number,
-- that no load had ledgered the file first).
insert into ops.loaded_file (
    source_file, interval_start, batch_id, file_bytes, lines, loaded, duplicates, quarantined, loaded_at, commit_seq
)
values (
    $source_file, $interval_start::timestamp_ntz, $batch_id, $file_bytes, $lines, $loaded, $duplicates,
    $quarantined, $loaded_at::timestamp_ntz, $commit_seq
);
