-- How many sessions the marts hold and when they happened: the explorer's default time range.
-- The organizations placeholder: the user's organizations (organization_id in ...), or true (explorer.query.scope_sql).
select
    count(*) as sessions,
    min(started_at) as first_started,
    max(started_at) as last_started,
    max(last_event_at) as last_event
from marts.fct_sessions
where {organizations}
