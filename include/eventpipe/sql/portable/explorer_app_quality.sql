-- Completion rate and CSAT per app, over the sessions started in the time range.
-- Parameters: $range_start, $range_end (the range is [start, end)).
-- The organizations placeholder: the user's organizations (organization_id in ...), or true (explorer.query.scope_sql).
select
    app_id as app,
    count(*) as sessions,
    count(case when is_closed then 1 end) as sessions_completed,
    cast(count(case when is_closed then 1 end) as double) / count(*) as completion_rate,
    avg(csat_score) as avg_csat,
    count(csat_score) as csat_responses
from marts.fct_sessions
where
    started_at >= $range_start
    and started_at < $range_end
    and {organizations}
group by app_id
order by app_id asc
