{#-
    timestamp_diff_ms(start, end): end - start in whole milliseconds (bigint).
    date_of(ts): the calendar date of a UTC naive timestamp.
-#}
{% macro timestamp_diff_ms(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('timestamp_diff_ms', 'eventpipe')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro duckdb__timestamp_diff_ms(start_ts, end_ts) -%}
    cast(date_diff('millisecond', {{ start_ts }}, {{ end_ts }}) as bigint)
{%- endmacro %}

{% macro snowflake__timestamp_diff_ms(start_ts, end_ts) -%}
    cast(datediff('millisecond', {{ start_ts }}, {{ end_ts }}) as bigint)
{%- endmacro %}

{% macro date_of(ts) -%}
    {{ return(adapter.dispatch('date_of', 'eventpipe')(ts)) }}
{%- endmacro %}

{% macro duckdb__date_of(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}

{% macro snowflake__date_of(ts) -%}
    to_date({{ ts }})
{%- endmacro %}
