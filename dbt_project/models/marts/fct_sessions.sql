{{
    config(
        materialized='incremental',
        unique_key=['organization_id', 'session_id'],
    )
}}

{#-
    One row per session: the pair (organization_id, session_id), since session ids are unique only
    within an organization. Every partition, join and "touched" set below is keyed by both.
    Incremental runs recompute, from all of their events, exactly the sessions that have an event
    in a load commit this table has not absorbed (raw _commit_seq above this table's greatest
    _max_commit_seq, up to the last commit, read once: see macros/incremental.sql), however long
    ago those events happened.

    Reading "all of their events" does not scan all history: every row keeps _min_commit_seq, the
    first commit among its events, and a touched session's events are all in that commit or later
    (events committed since are above the absorbed one). So raw is read from history_floor = the
    least of those (and the first new commit), a constant the engine prunes on (raw is appended in
    commit order): the cost follows how late the new events are, not how much history there is.
-#}

{%- set last = last_commit_seq() -%}
{% if is_incremental() %}
    {%- set absorbed = absorbed_commit_seq('_max_commit_seq') -%}
    {%- set history_floor = constant_or_subquery(
        "least(coalesce(min(coalesce(_min_commit_seq, -1)), " ~ absorbed ~ " + 1), " ~ absorbed ~ " + 1)",
        this,
        "(organization_id, session_id) in (select organization_id, session_id from "
        ~ ref('stg_raw__session_events') ~ " where _commit_seq > " ~ absorbed ~ " and _commit_seq <= " ~ last ~ ")"
    ) -%}
{% endif %}

with

session_events as (

    select * from {{ ref('stg_raw__session_events') }}

    where
        session_id is not null
        and _commit_seq <= {{ last }}

),

custom_metric_values as (

    select * from {{ ref('int_custom_metric_values_parsed') }}

    where
        session_id is not null
        and _commit_seq <= {{ last }}

),

{% if is_incremental() %}

    touched_sessions as (

        select distinct
            organization_id,
            session_id

        from session_events

        where _commit_seq > {{ absorbed }}

    ),

{% endif %}

events_to_summarize as (

    select
        *,
        min(event_time) over (partition by organization_id, session_id) as session_started_at

    from session_events

    {% if is_incremental() %}
        where
            _commit_seq >= {{ history_floor }}
            and (organization_id, session_id) in (
                select
                    touched_sessions.organization_id,
                    touched_sessions.session_id
                from touched_sessions
            )
    {% endif %}

),

-- which custom metric key is CSAT, per organization and app (var csat_metric_keys, macros/csat.sql)
csat_metric_keys as (

    {{ csat_metric_keys() }}

),

-- each custom metric value with the CSAT key of its organization and app: the most specific entry
csat_key_per_value as (

    select
        custom_metric_values.*,
        csat_metric_keys.metric_key_lower as csat_key_lower

    from custom_metric_values

    inner join csat_metric_keys
        on
            (
                csat_metric_keys.organization_id is null
                or custom_metric_values.organization_id = csat_metric_keys.organization_id
            )
            and (csat_metric_keys.app_id is null or custom_metric_values.app_id = csat_metric_keys.app_id)

    {% if is_incremental() %}
        where
            custom_metric_values._commit_seq >= {{ history_floor }}
            and (custom_metric_values.organization_id, custom_metric_values.session_id) in (
                select
                    touched_sessions.organization_id,
                    touched_sessions.session_id
                from touched_sessions
            )
    {% endif %}

    qualify row_number() over (
        partition by custom_metric_values.event_id
        order by csat_metric_keys.specificity desc
    ) = 1

),

last_csat as (

    select
        organization_id,
        session_id,
        value_number as csat_score

    from csat_key_per_value

    where lower(metric_key) = csat_key_lower

    qualify row_number() over (
        partition by organization_id, session_id
        order by event_time desc, _commit_seq desc, event_id desc
    ) = 1

),

session_summaries as (

    select
        organization_id,
        session_id,

        -- constant within a session; max() keeps a non-null value deterministically
        max(app_id) as app_id,
        max(branch_id) as branch_id,
        max(deploy_id) as deploy_id,

        min(event_time) as started_at,
        max(case when event_type = 'session_end' then event_time end) as ended_at,
        max(event_time) as last_event_at,
        count(case when event_type = 'session_end' then 1 end) > 0 as is_closed,

        count(*) as event_count,
        count(case when event_type = 'action_run' then 1 end) as action_runs,
        count(distinct case when event_type = 'action_run' then action_id end) as actions_fired,
        count(case when event_type = 'action_error' then 1 end) as action_errors,
        count(case when event_type = 'runtime_error' then 1 end) as runtime_errors,
        count(case when event_type = 'message_sent' then 1 end) as messages_sent,
        count(case when event_type = 'message_received' then 1 end) as messages_received,

        -- the session_start's device class, when the session_start is the session's first event
        max(
            case
                when event_type = 'session_start' and event_time = session_started_at then device_class
            end
        ) as device_class,

        min(_loaded_at) as _min_loaded_at,
        max(_loaded_at) as _max_loaded_at,
        min(_commit_seq) as _min_commit_seq,
        max(_commit_seq) as _max_commit_seq

    from events_to_summarize

    group by
        organization_id,
        session_id

),

final as (

    select
        -- ids
        session_summaries.session_id,
        session_summaries.organization_id,
        session_summaries.app_id,
        session_summaries.branch_id,
        session_summaries.deploy_id,

        -- time (UTC)
        session_summaries.started_at,
        session_summaries.ended_at,
        session_summaries.last_event_at,

        -- status
        session_summaries.is_closed,
        case when session_summaries.is_closed then 'closed' else 'open' end as status,

        -- counts
        session_summaries.event_count,
        session_summaries.action_runs,
        session_summaries.actions_fired,
        session_summaries.action_errors,
        session_summaries.runtime_errors,
        session_summaries.messages_sent,
        session_summaries.messages_received,

        -- measures
        {{ timestamp_diff_ms(
            'session_summaries.started_at',
            'case when session_summaries.is_closed then session_summaries.ended_at'
            ~ ' else session_summaries.last_event_at end'
        ) }} as duration_ms,
        session_summaries.device_class,
        last_csat.csat_score,

        -- load metadata: the loader's clock over the session's events (information only); the last
        -- load commit among them (what this table absorbed) and the first (where its events start
        -- in raw when it is rebuilt)
        session_summaries._max_loaded_at,
        session_summaries._min_loaded_at,
        session_summaries._max_commit_seq,
        session_summaries._min_commit_seq

    from session_summaries

    left join last_csat
        on
            session_summaries.organization_id = last_csat.organization_id
            and session_summaries.session_id = last_csat.session_id

)

select * from final
