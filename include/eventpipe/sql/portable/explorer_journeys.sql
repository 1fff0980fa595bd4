-- The Activity Explorer's journeys: one row per session, named as the explorer's API names them.
-- eventpipe/explorer/query.py filters, sorts and pages this relation (whitelisted column names,
-- bound values). Time columns are UTC.
-- The organizations placeholder: the user's organizations (organization_id in ...), or true (explorer.query.scope_sql).
select
    session_id as journey_id,
    branch_id as branch,
    deploy_id as deploy,
    status,
    last_event_at as latest_event,
    started_at as started_event,
    ended_at as closed_event,
    action_runs as actions,
    action_errors,
    runtime_errors,
    messages_sent + messages_received as messages,
    app_id as app,
    organization_id as organization,
    device_class,
    duration_ms,
    csat_score as csat,
    event_count as events
from marts.fct_sessions
where {organizations}
