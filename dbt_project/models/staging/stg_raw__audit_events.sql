with

source as (

    select * from {{ source('raw', 'audit_event') }}

),

renamed as (

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
