{{
    config(
        materialized='incremental',
        unique_key='event_id',
    )
}}

with

custom_metric_values as (

    select * from {{ ref('int_custom_metric_values_parsed') }}

    -- the load commits above the last this table absorbed, up to the last one now (see macros/incremental.sql)
    where
        _commit_seq <= {{ last_commit_seq() }}
        {% if is_incremental() %}
            and _commit_seq > {{ absorbed_commit_seq('_commit_seq') }}
        {% endif %}

),

final as (

    select
        event_id,
        session_id,
        organization_id,
        app_id,
        event_time,
        metric_key,
        metric_field,
        value_number,
        value_text,
        _loaded_at,
        _commit_seq

    from custom_metric_values

)

select * from final
