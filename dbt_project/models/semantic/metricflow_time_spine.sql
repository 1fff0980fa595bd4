-- MetricFlow's time spine: one row per UTC hour (the finest grain the metrics are asked at), 2024 to 2031.
-- A calendar, not data: built once per warehouse (`dbt run --select metricflow_time_spine`), not by the
-- hourly build (tag time_spine, excluded in eventpipe.orchestrate.dbt_config).
{{ config(materialized='table') }}

with

hours as (

    {{ hour_spine("cast('2024-01-01' as timestamp)", "cast('2031-01-01' as timestamp)") }}

)

select cast(date_hour as timestamp) as date_hour

from hours
