-- The latest file-level quarantine record of each of $urls that the ledger does not hold (a file loaded
-- after a fixed copy landed is no longer quarantined). Parameter: $urls, a list.
select
    source_file,
    file_bytes,
    file_version,
    reason,
    detail
from ops.quarantined_file
where
    source_file in (select unnest($urls))
    and source_file not in (select loaded_file.source_file from ops.loaded_file)
qualify row_number() over (partition by source_file order by quarantined_at desc, batch_id desc) = 1
order by source_file;
