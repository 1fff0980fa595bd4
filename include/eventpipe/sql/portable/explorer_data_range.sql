-- How many sessions the marts hold and when they happened: the explorer's default time range.
select
    count(*) as sessions,
    min(started_at) as first_started,
    max(started_at) as last_started,
    max(last_event_at) as last_event
from marts.fct_sessions
