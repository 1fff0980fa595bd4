{{
    config(
        materialized='incremental',
        unique_key='event_id',
    )
}}

with

audit_events as (

    select * from {{ ref('stg_raw__audit_events') }}

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

        -- load metadata: _commit_seq hands over, _loaded_at informs
        _batch_id,
        _loaded_at,
        _commit_seq

    from audit_events

)

select * from final
