-- Counts by outcome for the staged group: ('quarantined', reason) and ('loaded', kind).
select
    'quarantined' as outcome,
    reason as reason_or_kind,
    count(*) as line_count
from staged_line
where reason is not null
group by reason
union all
select
    'loaded' as outcome,
    lower(staged_line.kind) as reason_or_kind,
    count(*) as line_count
from staged_line
-- ST07 (USING): staged_line and new_event share (source_file, line_number) by name
semi join new_event using (source_file, line_number)  -- noqa: ST07
group by lower(staged_line.kind)
order by outcome, reason_or_kind;
