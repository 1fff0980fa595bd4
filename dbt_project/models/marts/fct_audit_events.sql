{{
    config(
        materialized='incremental',
        unique_key='event_id',
    )
}}

with

audit_events as (

    select * from {{ ref('stg_raw__audit_events') }}

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
        user_id,
        resource_id,
        role_id,
        api_key_id,

        -- event
        event_type,
        email,
        resource_type,
        login_type,
        domain,

        -- time (UTC)
        event_time,
        {{ date_of('event_time') }} as event_date,

        -- load metadata
        _batch_id,
        _loaded_at

    from audit_events

)

select * from final
