{#-
    Which custom metric is a session's CSAT: the var `csat_metric_keys` (dbt_project.yml), one place
    for the session summary and everything that reads its csat_score (the share's views, the explorer,
    the semantic layer, Superset). Each entry is {metric_key, organization_id?, app_id?}; an entry
    without organization_id / app_id applies to every organization / app. For a custom metric value,
    the most specific entry that applies to its organization and app says the key (organization and
    app > organization > app > default); the key is compared without regard to case.
-#}

{% macro csat_metric_keys() -%}
    {%- set entries = var('csat_metric_keys') -%}
    {%- if entries is string or entries is mapping or entries | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var csat_metric_keys must be a non-empty list of {metric_key, organization_id?, app_id?}"
        ) }}
    {%- endif -%}
    {%- set scopes = [] -%}
    {%- for entry in entries -%}
        {%- if entry is not mapping or not entry.get('metric_key') -%}
            {{ exceptions.raise_compiler_error("csat_metric_keys entry without metric_key: " ~ entry) }}
        {%- endif -%}
        {%- set scope = (entry.get('organization_id') or '*') ~ '/' ~ (entry.get('app_id') or '*') -%}
        {%- if scope in scopes -%}
            {{ exceptions.raise_compiler_error("csat_metric_keys: two entries for " ~ scope) }}
        {%- endif -%}
        {%- do scopes.append(scope) %}
        select
            {{ csat_optional_literal(entry.get('organization_id')) }} as organization_id,
            {{ csat_optional_literal(entry.get('app_id')) }} as app_id,
            {{ csat_optional_literal(entry['metric_key'] | lower) }} as metric_key_lower,
            {{ (2 if entry.get('organization_id') else 0) + (1 if entry.get('app_id') else 0) }} as specificity
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro csat_optional_literal(value) -%}
    {%- if value -%}
        '{{ value | string | replace("'", "''") }}'
    {%- else -%}
        cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
