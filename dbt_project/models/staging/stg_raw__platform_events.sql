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

        -- load metadata: _commit_seq is the handover (the load commit that inserted the row), _loaded_at
        -- the loader's clock (information only)
        _batch_id,
        _loaded_at,
        _commit_seq

    from source

)

select * from renamed
