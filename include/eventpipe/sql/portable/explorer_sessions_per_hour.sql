-- Sessions started, and sessions completed (session_end), per UTC hour of the time range.
-- Parameters: $range_start, $range_end (the range is [start, end)).
-- The organizations placeholder: the user's organizations (organization_id in ...), or true (explorer.query.scope_sql).
with

started as (
    select
        date_trunc('hour', started_at) as bucket_start,
        count(*) as sessions_started
    from marts.fct_sessions
    where
        started_at >= $range_start
        and started_at < $range_end
        and {organizations}
    group by date_trunc('hour', started_at)
),

completed as (
    select
        date_trunc('hour', ended_at) as bucket_start,
        count(*) as sessions_completed
    from marts.fct_sessions
    where
        ended_at >= $range_start
        and ended_at < $range_end
        and {organizations}
    group by date_trunc('hour', ended_at)
)

select
    coalesce(started.bucket_start, completed.bucket_start) as bucket_start,
    coalesce(started.sessions_started, 0) as sessions_started,
    coalesce(completed.sessions_completed, 0) as sessions_completed
from started
full outer join completed
    on started.bucket_start = completed.bucket_start
order by bucket_start asc
