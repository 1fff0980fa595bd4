-- Quarantine the batch's invalid lines, original bytes and all. Parameters: $batch_id, $loaded_at, $commit_seq.
insert into raw.quarantined_event
select
    raw_line,
    reason,
    detail,
    source_file,
    line_number,
    $batch_id as batch_id,
    $loaded_at as quarantined_at,
    null as replayed_batch_id,
    $commit_seq as commit_seq
from staged_line
where reason is not null
order by source_file, line_number;
