{{
    config(
        materialized='incremental',
        unique_key='event_id',
    )
}}

with

session_events as (

    select * from {{ ref('stg_raw__session_events') }}

    -- the load commits above the last this table absorbed, up to the last one now (see macros/incremental.sql)
    where
        _commit_seq <= {{ last_commit_seq() }}
        {% if is_incremental() %}
            and _commit_seq > {{ absorbed_commit_seq('_commit_seq') }}
        {% endif %}

),

final as (

    select
        -- ids
        event_id,
        organization_id,
        app_id,
        branch_id,
        deploy_id,
        session_id,
        actor_id,
        channel_id,
        flow_id,
        activity_id,
        action_id,

        -- event
        event_type,
        source_runtime,
        source_detail,
        action_name,
        status,
        code,
        message,
        device_class,
        browser,
        os,
        screen_width,
        screen_height,
        duration_millis,
        custom_metric_key,
        custom_metric_field,
        custom_metric_value,
        analytics_event_name,
        analytics_event_properties,

        -- time (UTC)
        event_time,
        {{ date_of('event_time') }} as event_date,

        -- load metadata: _commit_seq hands over, _loaded_at informs
        _batch_id,
        _loaded_at,
        _commit_seq

    from session_events

)

select * from final
