-- One row per load attempt of an interval (each Airflow run), including ones that found nothing new.
-- noqa: disable=PRS,LT01,LT02
insert into ops.load_batch (
    batch_id, interval_start, dag_id, run_id, files_seen, files_loaded, files_skipped,
    lines, loaded, duplicates, quarantined, started_at, finished_at
)
values (
    %(batch_id)s, %(interval_start)s::timestamp_ntz, %(dag_id)s, %(run_id)s, %(files_seen)s,
    %(files_loaded)s, %(files_skipped)s, %(lines)s, %(loaded)s, %(duplicates)s, %(quarantined)s,
    %(started_at)s::timestamp_ntz, %(finished_at)s::timestamp_ntz
);
