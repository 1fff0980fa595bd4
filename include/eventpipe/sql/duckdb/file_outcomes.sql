-- What became of each staged file's lines: loaded, duplicate (a valid copy of an event already kept) or quarantined.
-- Lint exception: ST07, the staged lines and the new events share (source_file, line_number) by name.
select
    staged_line.source_file,
    count(*) as lines,
    count(new_event.line_number) as loaded,
    count(*) filter (where staged_line.reason is null) - count(new_event.line_number) as duplicates,
    count(*) filter (where staged_line.reason is not null) as quarantined
from staged_line
left join new_event using (source_file, line_number)  -- noqa: ST07
group by staged_line.source_file
order by staged_line.source_file;
