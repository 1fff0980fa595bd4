-- One ledger row per load attempt of an interval, including attempts that found nothing new.
insert into ops.load_batch  -- noqa: PRS
values (
    $batch_id, $interval_start, $dag_id, $run_id, $files_seen, $files_loaded, $files_skipped,
    $lines, $loaded, $duplicates, $quarantined, $started_at, $finished_at
);
