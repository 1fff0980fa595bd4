-- One ledger row per load attempt of an interval (each Airflow run), including attempts that found nothing new.
insert into ops.load_batch (
    batch_id, interval_start, dag_id, run_id, files_seen, files_loaded, files_skipped,
    lines, loaded, duplicates, quarantined, started_at, finished_at
)
values (
    $batch_id, cast($interval_start as timestamp without time zone), $dag_id, $run_id, $files_seen,
    $files_loaded, $files_skipped, $lines, $loaded, $duplicates, $quarantined,
    cast($started_at as timestamp without time zone), cast($finished_at as timestamp without time zone)
);
