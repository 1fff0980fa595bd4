{#-
    Continuous (linearly interpolated) percentiles as aggregates, nulls ignored, result double.
    percentile_cont(expr, 0.95); median(expr) = percentile_cont(expr, 0.5).
-#}
{% macro percentile_cont(expr, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'eventpipe')(expr, fraction)) }}
{%- endmacro %}

{% macro duckdb__percentile_cont(expr, fraction) -%}
    cast(quantile_cont({{ expr }}, {{ fraction }}) as double)
{%- endmacro %}

{% macro snowflake__percentile_cont(expr, fraction) -%}
    cast(percentile_cont({{ fraction }}) within group (order by {{ expr }}) as double)
{%- endmacro %}

{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'eventpipe')(expr)) }}
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    cast(quantile_cont({{ expr }}, 0.5) as double)
{%- endmacro %}

{% macro snowflake__median(expr) -%}
    cast(median({{ expr }}) as double)
{%- endmacro %}
