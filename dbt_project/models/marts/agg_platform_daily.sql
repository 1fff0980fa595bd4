{{
    config(
        materialized='incremental',
        unique_key='service_day_key',
    )
}}

{#-
    Platform events per organization, service and UTC day. Incremental runs recompute every
    service-day that received an event in a load commit this table has not absorbed (above its
    greatest _max_commit_seq, up to the last commit, read once: see macros/incremental.sql), from
    all of that day's events.
-#}

{#- outside the if block, so that dbt sees the dependency on ops.load_commit -#}
{%- set last = last_commit_seq() -%}

with

platform_events as (

    select
        {{ surrogate_key(['organization_id', 'service', 'event_date']) }} as service_day_key,
        organization_id,
        service,
        event_date,
        status,
        duration_millis,
        _loaded_at,
        _commit_seq

    from {{ ref('fct_platform_events') }}

),

{% if is_incremental() %}

    touched_service_days as (

        select distinct
            service_day_key,
            event_date

        from platform_events

        where
            _commit_seq > {{ absorbed_commit_seq('_max_commit_seq') }}
            and _commit_seq <= {{ last }}

    ),

{% endif %}

service_days as (

    select
        service_day_key,
        organization_id,
        service,
        event_date,
        count(*) as events,
        count(case when status in ('error', 'timeout') then 1 end) as errors,
        cast(count(case when status in ('error', 'timeout') then 1 end) as double)
        / count(*) as error_rate,
        {{ percentile_cont('duration_millis', 0.5) }} as p50_duration_ms,
        {{ percentile_cont('duration_millis', 0.95) }} as p95_duration_ms,
        max(_loaded_at) as _max_loaded_at,
        max(_commit_seq) as _max_commit_seq

    from platform_events

    {% if is_incremental() %}
        -- the date first: fct_platform_events is appended in load order, so its event_date ranges
        -- let the engine skip most of history before the key's hash is computed
        where
            event_date in (select touched_service_days.event_date from touched_service_days)
            and service_day_key in (select touched_service_days.service_day_key from touched_service_days)
    {% endif %}

    group by
        service_day_key,
        organization_id,
        service,
        event_date

)

select * from service_days
