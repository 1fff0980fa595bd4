-- One row per custom_metric session event, its JSON value split into a number and a text.

with

session_events as (

    select * from {{ ref('stg_raw__session_events') }}

),

custom_metric_events as (

    select
        event_id,
        session_id,
        organization_id,
        app_id,
        event_time,
        custom_metric_key as metric_key,
        custom_metric_field as metric_field,
        {{ json_scalar_as_double('custom_metric_value') }} as value_number,
        {{ json_scalar_as_text('custom_metric_value') }} as value_text,
        _loaded_at,
        _commit_seq

    from session_events

    where event_type = 'custom_metric'

)

select * from custom_metric_events
