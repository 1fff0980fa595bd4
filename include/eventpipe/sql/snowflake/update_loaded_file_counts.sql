-- A file's ledger row after a replay, from what the tables hold (group_file_counts): positional
-- loaded, quarantined, loaded, quarantined, source_file. Duplicates are the rest of its lines.
update ops.loaded_file
set
    loaded = ?,
    quarantined = ?,
    duplicates = lines - ? - ?
where source_file = ?;
