-- One row per landing file quarantined whole (it could not be read to its end), per attempt.
insert into ops.quarantined_file (
    source_file, interval_start, reason, detail, file_bytes, file_version, batch_id, quarantined_at
)
values (
    $source_file, cast($interval_start as timestamp without time zone), $reason, $detail, $file_bytes,
    $file_version, $batch_id, cast($quarantined_at as timestamp without time zone)
);
