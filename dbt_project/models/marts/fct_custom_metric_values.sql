{{
    config(
        materialized='incremental',
        unique_key='event_id',
    )
}}

with

custom_metric_values as (

    select * from {{ ref('int_custom_metric_values_parsed') }}

    {% if is_incremental() %}
        where _loaded_at >= {{ loaded_at_watermark('_loaded_at') }}
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
        _loaded_at

    from custom_metric_values

)

select * from final
