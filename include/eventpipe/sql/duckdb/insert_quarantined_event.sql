-- Quarantine the batch's invalid lines, original bytes and all. Parameters: $batch_id, $loaded_at.
-- `$name` parameters are DuckDB syntax that sqlfluff's DuckDB lexer cannot read (LXR), leaving the rest of
-- their expression unparsed (PRS): the lines holding them carry noqa. Full lint: see the root .sqlfluff.
insert into raw.quarantined_event
select
    raw_line,
    reason,
    detail,
    source_file,
    line_number,
    $batch_id as batch_id,  -- noqa: LXR, PRS, LT02
    $loaded_at as quarantined_at,  -- noqa: LXR
    null as replayed_batch_id
from staged_line
where reason is not null
order by source_file, line_number;
