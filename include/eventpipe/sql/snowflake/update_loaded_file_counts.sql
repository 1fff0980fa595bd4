-- A file's ledger row after a replay, from what the tables hold (group_file_counts): positional
-- loaded, quarantined, loaded, quarantined, source_file. Duplicates are the rest of its lines.
-- noqa: disable=PRS,LT01,LT02
update ops.loaded_file
set
    loaded = %s,
    quarantined = %s,
    duplicates = lines - %s - %s
where source_file = %s;
