{#-
    Scalar access to a JSON value (DuckDB JSON, Snowflake VARIANT), e.g. raw custom_metric_value.

    json_scalar_as_double(expr): the value as a double when the JSON value is a number, else null
      (a JSON string such as "4" is text, not a number).
    json_scalar_as_text(expr): strings unquoted; numbers, booleans, objects and arrays as JSON text;
      null for JSON null and SQL null.
-#}
{% macro json_scalar_as_double(expr) -%}
    {{ return(adapter.dispatch('json_scalar_as_double', 'eventpipe')(expr)) }}
{%- endmacro %}

{% macro duckdb__json_scalar_as_double(expr) -%}
    case
        when json_type({{ expr }}) in ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE')
            then cast({{ expr }} as double)
    end
{%- endmacro %}

{#-
    Snowflake: written so that the emulator (fakesnow, whose TYPEOF says JSON for every value and
    whose VARIANT::VARCHAR keeps a string's quotes) computes exactly what Snowflake does. A value is
    a number when its JSON text is one (a JSON string's text starts with a quote); a value's text is
    read through an object field, which both unquote. Snowflake's VARIANT null becomes SQL null.
-#}
{% macro snowflake__json_scalar_as_double(expr) -%}
    try_cast(to_json({{ expr }}) as double)
{%- endmacro %}

{% macro json_scalar_as_text(expr) -%}
    {{ return(adapter.dispatch('json_scalar_as_text', 'eventpipe')(expr)) }}
{%- endmacro %}

{% macro duckdb__json_scalar_as_text(expr) -%}
    case
        when json_type({{ expr }}) = 'NULL' then null
        when json_type({{ expr }}) = 'VARCHAR' then {{ expr }} ->> '$'
        else cast({{ expr }} as varchar)
    end
{%- endmacro %}

{% macro snowflake__json_scalar_as_text(expr) -%}
    object_construct_keep_null('v', {{ expr }}):v::varchar
{%- endmacro %}
