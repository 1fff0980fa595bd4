-- Move each replayed file's now-valid lines from quarantined to loaded or duplicates in its ledger row,
-- so that lines = loaded + duplicates + quarantined still holds (reconcile checks it).
update ops.loaded_file
set
    loaded = loaded_file.loaded + outcome.loaded,
    duplicates = loaded_file.duplicates + outcome.duplicates,
    quarantined = loaded_file.quarantined - outcome.loaded - outcome.duplicates
from (
    select
        staged_line.source_file,
        count(new_event.line_number) as loaded,
        count(*) - count(new_event.line_number) as duplicates
    from staged_line
    -- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
    left join new_event using (source_file, line_number)  -- noqa: ST07
    where staged_line.reason is null
    group by staged_line.source_file
) as outcome
where loaded_file.source_file = outcome.source_file;
