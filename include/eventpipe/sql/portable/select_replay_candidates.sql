-- Quarantined lines not yet replayed, optionally of one reason, with the arrival hour of their file
-- (validation judges eventTime against it). A line_too_long row holds only the line's prefix: it is not
-- replayed (the landing file is its lossless copy). Parameter: $reason (NULL: every reason).
select
    quarantined_event.source_file,
    loaded_file.interval_start,
    quarantined_event.line_number,
    quarantined_event.raw_line
from raw.quarantined_event
inner join ops.loaded_file
    on quarantined_event.source_file = loaded_file.source_file
where
    quarantined_event.replayed_batch_id is null
    and quarantined_event.reason <> 'line_too_long'
    and (quarantined_event.reason = $reason or $reason is null)
order by quarantined_event.source_file, quarantined_event.line_number;
