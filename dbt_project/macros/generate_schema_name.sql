{#-
    Use a model's custom schema as-is (staging, marts) instead of dbt's default
    "<target schema>_<custom schema>", so the warehouse holds marts.fct_sessions on every target.
    Models without a custom schema fall back to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
