-- The commit's rows per organization, kind and arrival hour (ops.load_commit_unit), in the commit's transaction:
-- it reads the commit's own rows, visible to it alone. Parameter: $commit_seq.
insert into ops.load_commit_unit (commit_seq, organization_id, kind, interval_start, events)
with new_rows as (
    select
        session_event.organization_id,
        'Session' as kind,
        session_event.event_type,
        session_event._source_file
    from raw.session_event
    where session_event._commit_seq = $commit_seq
    union all
    select
        audit_event.organization_id,
        'Audit' as kind,
        audit_event.event_type,
        audit_event._source_file
    from raw.audit_event
    where audit_event._commit_seq = $commit_seq
    union all
    select
        platform_event.organization_id,
        'Platform' as kind,
        platform_event.event_type,
        platform_event._source_file
    from raw.platform_event
    where platform_event._commit_seq = $commit_seq
),

with_hour as (
    select
        new_rows.organization_id,
        new_rows.kind,
        new_rows.event_type,
        loaded_file.interval_start
    from new_rows
    inner join ops.loaded_file
        on new_rows._source_file = loaded_file.source_file
)

select
    $commit_seq as commit_seq,
    organization_id,
    kind,
    interval_start,
    count(*) as events
from with_hour
group by organization_id, kind, interval_start
union all
select
    $commit_seq as commit_seq,
    organization_id,
    'analytics' as kind,
    interval_start,
    count(*) as events
from with_hour
where kind = 'Session' and event_type = 'analytics_event'
group by organization_id, interval_start;
