-- Headline session figures for the demo summary, from the marts.
select
    count(*) as sessions,
    count_if(is_closed) as sessions_closed,
    count_if(is_closed) / nullif(count(*), 0) as completion_rate,
    avg(csat_score) as avg_csat,
    count(csat_score) as csat_responses
from marts.fct_sessions;
