with

source as (

    select * from {{ source('raw', 'platform_event') }}

),

renamed as (

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

        -- measures
        duration_millis,

        -- original object
        payload,

        -- timestamps (UTC)
        event_time,

        -- load metadata
        _batch_id,
        _loaded_at

    from source

)

select * from renamed
