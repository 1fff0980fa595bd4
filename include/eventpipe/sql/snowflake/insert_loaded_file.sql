-- One ledger row per loaded landing file; MERGE keeps it to one however often a group is re-run.
merge into ops.loaded_file as existing
using (
    select
        $source_file as source_file,
        $interval_start::timestamp_ntz as interval_start,
        $batch_id as batch_id,
        $file_bytes as file_bytes,
        $lines as lines,
        $loaded as loaded,
        $duplicates as duplicates,
        $quarantined as quarantined,
        $loaded_at::timestamp_ntz as loaded_at
) as new_row
    on existing.source_file = new_row.source_file
when not matched then insert (
    source_file, interval_start, batch_id, file_bytes, lines, loaded, duplicates, quarantined, loaded_at
) values (
    new_row.source_file, new_row.interval_start, new_row.batch_id, new_row.file_bytes, new_row.lines,
    new_row.loaded, new_row.duplicates, new_row.quarantined, new_row.loaded_at
);
