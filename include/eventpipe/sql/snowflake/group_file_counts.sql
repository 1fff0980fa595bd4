-- What the warehouse holds for each file of a group, after its MERGEs: rows kept per kind and lines
-- quarantined (not replayed). Counted from the tables (not from what this attempt inserted), so a group re-loaded
-- after a crash still counts the rows the crashed attempt merged. Parameter: $urls, a JSON array.
with group_file as (
    select landing_file.value::varchar as source_file
    from table(flatten(input => parse_json($urls))) as landing_file
),

kept as (
    select
        session_event._source_file as source_file,
        'session' as label
    from raw.session_event
    where session_event._source_file in (select group_file.source_file from group_file)
    union all
    select
        audit_event._source_file as source_file,
        'audit' as label
    from raw.audit_event
    where audit_event._source_file in (select group_file.source_file from group_file)
    union all
    select
        platform_event._source_file as source_file,
        'platform' as label
    from raw.platform_event
    where platform_event._source_file in (select group_file.source_file from group_file)
)

select
    source_file,
    'loaded' as outcome,
    label,
    count(*) as line_count
from kept
group by source_file, label
union all
select
    source_file,
    'quarantined' as outcome,
    reason as label,
    count(*) as line_count
from raw.quarantined_event
where
    quarantined_event.source_file in (select group_file.source_file from group_file)
    and quarantined_event.replayed_batch_id is null  -- replayed lines are counted in raw (or duplicates)
group by source_file, reason
order by source_file, outcome, label;
