-- The staged lines that passed validation (a replay marks their quarantine rows replayed).
select
    source_file,
    line_number
from staged_line
where reason is null
order by source_file, line_number;
