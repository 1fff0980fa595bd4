-- One page of the quarantined lines not yet replayed, optionally of one reason, with the arrival hour of their
-- file (validation judges eventTime against it), in (file, line) order after the previous page's last line.
-- A line_too_long row holds only the line's prefix: it is not replayed (the landing file is its lossless copy).
-- A page holds at most $page_lines lines and, but for its first line, $page_bytes bytes of them
-- (eventpipe.settings.replay_page): the page's keys are chosen first, from the lines' lengths, and only its own
-- lines' bytes are read. Parameters: $reason (NULL: every reason), $after_file and $after_line (NULL: from the
-- first line), $page_lines, $page_bytes.
with candidate as (
    select
        source_file,
        line_number,
        octet_length(raw_line) as line_bytes
    from raw.quarantined_event
    where
        replayed_batch_id is null
        and reason <> 'line_too_long'
        and (reason = $reason or $reason is null)
        and (
            $after_file is null
            or source_file > $after_file
            or (source_file = $after_file and line_number > $after_line)
        )
),

page as (
    select
        source_file,
        line_number
    from candidate
    qualify
        row_number() over (order by source_file, line_number) = 1
        or sum(line_bytes) over (
            order by source_file, line_number rows between unbounded preceding and current row
        ) <= $page_bytes
    order by source_file, line_number
    limit $page_lines
)

select
    quarantined_event.source_file,
    loaded_file.interval_start,
    quarantined_event.line_number,
    quarantined_event.raw_line
from raw.quarantined_event
inner join page
    on
        quarantined_event.source_file = page.source_file
        and quarantined_event.line_number = page.line_number
inner join ops.loaded_file
    on quarantined_event.source_file = loaded_file.source_file
order by quarantined_event.source_file, quarantined_event.line_number;
