-- Everything the ledger says was loaded, for the run summary.
select
    count(*) as files,
    coalesce(sum(lines), 0) as landed_lines,
    coalesce(sum(loaded), 0) as loaded_events,
    coalesce(sum(duplicates), 0) as duplicate_lines,
    coalesce(sum(quarantined), 0) as quarantined_lines
from ops.loaded_file;
