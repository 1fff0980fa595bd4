-- What the marts hold per delivered kind, for the summary to compare with what was delivered.
select
    'Session' as kind,
    count(*) as events
from marts.fct_session_events
union all
select
    'analytics' as kind,
    count(*) as events
from marts.fct_session_events
where fct_session_events.event_type = 'analytics_event'
union all
select
    'Audit' as kind,
    count(*) as events
from marts.fct_audit_events;
