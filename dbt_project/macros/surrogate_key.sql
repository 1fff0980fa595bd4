{#-
    Null-safe hash key over several columns (md5 hex on DuckDB and Snowflake). Used as the
    incremental unique_key of the daily aggregates, whose natural keys (app_id, service) may be
    null: merge / delete+insert match keys with "=", which never matches null.
-#}
{% macro surrogate_key(expressions) -%}
    {%- set parts = [] -%}
    {%- for expression in expressions -%}
        {%- do parts.append("coalesce(cast(" ~ expression ~ " as " ~ dbt.type_string() ~ "), '_null_')") -%}
    {%- endfor -%}
    md5({{ parts | join(" || '|' || ") }})
{%- endmacro %}
