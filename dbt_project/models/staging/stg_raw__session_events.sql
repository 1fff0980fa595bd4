with

source as (

    select * from {{ source('raw', 'session_event') }}

),

renamed as (

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

        -- user agent
        device_class,
        browser,
        os,
        screen_width,
        screen_height,

        -- measures
        duration_millis,

        -- custom metrics and analytics events
        custom_metric_key,
        custom_metric_field,
        custom_metric_value,
        analytics_event_name,
        analytics_event_properties,

        -- original object
        payload,

        -- timestamps (UTC)
        event_time,

        -- load metadata: _commit_seq is the handover (the load commit that inserted the row), _loaded_at
        -- the loader's clock (information only)
        _batch_id,
        _loaded_at,
        _commit_seq

    from source

)

select * from renamed
