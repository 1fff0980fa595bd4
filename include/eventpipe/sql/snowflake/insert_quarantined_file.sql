-- One row per landing file quarantined whole (it could not be read to its end), per attempt.
-- noqa: disable=PRS,LT01,LT02
insert into ops.quarantined_file (
    source_file, interval_start, reason, detail, file_bytes, file_version, batch_id, quarantined_at
)
values (
    %(source_file)s, %(interval_start)s::timestamp_ntz, %(reason)s, %(detail)s, %(file_bytes)s,
    %(file_version)s, %(batch_id)s, %(quarantined_at)s::timestamp_ntz
);
