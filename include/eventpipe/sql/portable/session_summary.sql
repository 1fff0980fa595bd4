-- Headline session figures for the demo summary, from the marts.
select
    count(*) as sessions,
    count(case when is_closed then 1 end) as sessions_closed,
    count(case when is_closed then 1 end) / nullif(count(*), 0) as completion_rate,
    avg(csat_score) as avg_csat,
    count(csat_score) as csat_responses
from marts.fct_sessions;
