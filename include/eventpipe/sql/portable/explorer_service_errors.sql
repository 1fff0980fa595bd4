-- Platform events and errors (status error or timeout, as agg_platform_daily counts them) per service,
-- over the platform events in the time range. Parameters: $range_start, $range_end ([start, end)).
-- The organizations placeholder: the user's organizations (organization_id in ...), or true (explorer.query.scope_sql).
select
    service,
    count(*) as events,
    count(case when status in ('error', 'timeout') then 1 end) as errors,
    cast(count(case when status in ('error', 'timeout') then 1 end) as double) / count(*) as error_rate
from marts.fct_platform_events
where
    event_time >= $range_start
    and event_time < $range_end
    and {organizations}
group by service
order by service asc
