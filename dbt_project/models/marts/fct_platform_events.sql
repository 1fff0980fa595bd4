{{
    config(
        materialized='incremental',
        unique_key='event_id',
    )
}}

with

platform_events as (

    select * from {{ ref('stg_raw__platform_events') }}

    {% if is_incremental() %}
        where _loaded_at >= {{ loaded_at_watermark('_loaded_at') }}
    {% endif %}

),

final as (

    select
        -- ids
        event_id,
        organization_id,
        app_id,
        connection_id,
        group_id,

        -- event
        event_type,
        service,
        service_version,
        status,
        message,
        duration_millis,

        -- time (UTC)
        event_time,
        {{ date_of('event_time') }} as event_date,

        -- load metadata
        _batch_id,
        _loaded_at

    from platform_events

)

select * from final
