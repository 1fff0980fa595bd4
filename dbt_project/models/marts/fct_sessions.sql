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
    loaded since the last run (raw _loaded_at against this table's _max_loaded_at), however long ago
    those events happened.

    Reading "all of their events" does not scan all history: every row keeps _min_loaded_at, the
    earliest raw _loaded_at among its events, and a touched session's events were all loaded at or
    after it (events loaded since are newer than the watermark). So raw is read from
    history_floor = the least of those and the watermark, a constant the engine prunes on (raw is
    appended in _loaded_at order): the cost follows how late the new events are, not how much
    history there is. Rows built before the column existed (null) fall back to no pruning.
-#}

{% if is_incremental() %}
    {%- set watermark = loaded_at_watermark('_max_loaded_at') -%}
    {%- set history_floor = constant_or_subquery(
        "least(coalesce(min(coalesce(_min_loaded_at, cast('1900-01-01' as timestamp))), " ~ watermark ~ "), " ~ watermark ~ ")",
        this,
        "(organization_id, session_id) in (select organization_id, session_id from "
        ~ ref('stg_raw__session_events') ~ " where _loaded_at >= " ~ watermark ~ ")"
    ) -%}
{% endif %}

with

session_events as (

    select * from {{ ref('stg_raw__session_events') }}

    where session_id is not null

),

custom_metric_values as (

    select * from {{ ref('int_custom_metric_values_parsed') }}

    where session_id is not null

),

{% if is_incremental() %}

    touched_sessions as (

        select distinct
            organization_id,
            session_id

        from session_events

        where _loaded_at >= {{ watermark }}

    ),

{% endif %}

events_to_summarize as (

    select
        *,
        min(event_time) over (partition by organization_id, session_id) as session_started_at

    from session_events

    {% if is_incremental() %}
        where
            _loaded_at >= {{ history_floor }}
            and (organization_id, session_id) in (
                select
                    touched_sessions.organization_id,
                    touched_sessions.session_id
                from touched_sessions
            )
    {% endif %}

),

last_csat as (

    select
        organization_id,
        session_id,
        value_number as csat_score

    from custom_metric_values

    where
        metric_key = 'CSAT'
        {% if is_incremental() %}
            and _loaded_at >= {{ history_floor }}
            and (organization_id, session_id) in (
                select
                    touched_sessions.organization_id,
                    touched_sessions.session_id
                from touched_sessions
            )
        {% endif %}

    qualify row_number() over (
        partition by organization_id, session_id
        order by event_time desc, _loaded_at desc, event_id desc
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
        max(_loaded_at) as _max_loaded_at

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

        -- load watermark: greatest raw _loaded_at among the session's events; the least bounds
        -- where its events are when it is rebuilt
        session_summaries._max_loaded_at,
        session_summaries._min_loaded_at

    from session_summaries

    left join last_csat
        on
            session_summaries.organization_id = last_csat.organization_id
            and session_summaries.session_id = last_csat.session_id

)

select * from final
