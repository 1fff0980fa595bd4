{#- One row per hour from `start` (included) to `end` (excluded), column date_hour: dbt's portable date_spine. -#}
{% macro hour_spine(start, end) -%}
    {{ dbt.date_spine('hour', start, end) }}
{%- endmacro %}
