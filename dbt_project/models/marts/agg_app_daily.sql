{{
    config(
        materialized='incremental',
        unique_key='app_day_key',
        post_hook="delete from {{ this }} where sessions_started = 0",
    )
}}

{#-
    Sessions per organization, app and UTC day of started_at. Incremental runs recompute every
    app-day a changed session belongs to now or may have belonged to before: a late event can move
    a session's start to an earlier day. App-days left without sessions get a zero row that replaces
    the stale one and that the post-hook deletes.

    A session changed when fct_sessions absorbed a load commit for it that this table has not: its
    _max_commit_seq is above this table's greatest _max_commit_seq, up to the last commit (read
    once: see macros/incremental.sql).
-#}

{#- outside the if block, so that dbt sees the dependency on ops.load_commit -#}
{%- set last = last_commit_seq() -%}

with

sessions as (

    select
        {{ surrogate_key(['organization_id', 'app_id', date_of('started_at')]) }} as app_day_key,
        organization_id,
        app_id,
        {{ date_of('started_at') }} as activity_date,
        session_id,
        is_closed,
        duration_ms,
        _max_loaded_at,
        _max_commit_seq

    from {{ ref('fct_sessions') }}

),

-- used by incremental runs only; declared outside the if block so dbt sees the dependency
session_events as (

    select
        organization_id,
        session_id,
        event_time,
        _commit_seq

    from {{ ref('stg_raw__session_events') }}

),

{% if is_incremental() %}

    {%- set absorbed = absorbed_commit_seq('_max_commit_seq') -%}
    {%- set changed = "_max_commit_seq > " ~ absorbed ~ " and _max_commit_seq <= " ~ last -%}
    {#- where the events of the changed sessions start in raw (see fct_sessions' history_floor) -#}
    {%- set history_floor = constant_or_subquery(
        "least(coalesce(min(coalesce(_min_commit_seq, -1)), " ~ absorbed ~ " + 1), " ~ absorbed ~ " + 1)",
        ref('fct_sessions'),
        changed
    ) -%}

    -- Sessions changed by the load commits this table has not absorbed.
    changed_sessions as (

        select
            organization_id,
            session_id,
            app_id,
            activity_date

        from sessions

        where {{ changed }}

    ),

    -- Every day any event of a changed session falls on: includes the session's previous start
    -- day, which fct_sessions no longer shows.
    changed_session_days as (

        select
            changed_sessions.organization_id,
            changed_sessions.app_id,
            changed_sessions.activity_date

        from changed_sessions

        union

        select
            changed_sessions.organization_id,
            changed_sessions.app_id,
            {{ date_of('session_events.event_time') }} as activity_date

        from session_events

        -- a session is (organization_id, session_id): another organization's session of the same id
        -- must not pull its days in
        inner join changed_sessions
            on
                session_events.organization_id = changed_sessions.organization_id
                and session_events.session_id = changed_sessions.session_id

        where
            session_events._commit_seq >= {{ history_floor }}
            and session_events._commit_seq <= {{ last }}

    ),

    touched_app_days as (

        select distinct
            {{ surrogate_key(['organization_id', 'app_id', 'activity_date']) }} as app_day_key,
            organization_id,
            app_id,
            activity_date

        from changed_session_days

    ),

{% endif %}

app_days as (

    select
        app_day_key,
        organization_id,
        app_id,
        activity_date,
        count(*) as sessions_started,
        count(case when is_closed then 1 end) as sessions_completed,
        cast(count(case when is_closed then 1 end) as double) / count(*) as completion_rate,
        {{ median('case when is_closed then duration_ms end') }} as median_duration_ms,
        max(_max_loaded_at) as _max_loaded_at,
        max(_max_commit_seq) as _max_commit_seq

    from sessions

    {% if is_incremental() %}
        -- the date first: a cheap filter before the key's hash, on few rows
        where
            activity_date in (select touched_app_days.activity_date from touched_app_days)
            and app_day_key in (select touched_app_days.app_day_key from touched_app_days)
    {% endif %}

    group by
        app_day_key,
        organization_id,
        app_id,
        activity_date

),

final as (

    select * from app_days

    {% if is_incremental() %}

        union all

        -- zero rows for touched app-days that lost all their sessions (deleted by the post-hook)
        select
            touched_app_days.app_day_key,
            touched_app_days.organization_id,
            touched_app_days.app_id,
            touched_app_days.activity_date,
            0 as sessions_started,
            0 as sessions_completed,
            null as completion_rate,
            null as median_duration_ms,
            null as _max_loaded_at,
            null as _max_commit_seq

        from touched_app_days

        where touched_app_days.app_day_key not in (select app_days.app_day_key from app_days)

    {% endif %}

)

select * from final
