-- Headline session figures for the demo summary, from the marts.
SELECT
    count(*) AS sessions,
    count(*) FILTER (WHERE is_closed) AS sessions_closed,
    count(*) FILTER (WHERE is_closed) / nullif(count(*), 0) AS completion_rate,
    avg(csat_score) AS avg_csat,
    count(csat_score) AS csat_responses
FROM marts.fct_sessions;
