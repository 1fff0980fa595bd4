{#-
    Load watermark of an incremental mart: the greatest raw _loaded_at the mart has already absorbed
    (stored per row as _loaded_at or _max_loaded_at), minus the eventpipe_watermark_lookback_minutes
    var. Rows loaded at or after it are "new": a run recomputes every key (event, session, app-day,
    service-day) they touch, from all of that key's rows, however old their event_time. ">=" rather
    than ">" re-reads the newest batch once more, which is idempotent and covers rows that share the
    newest _loaded_at but landed after the previous run. Only valid inside is_incremental().

    When dbt executes, the value is read first and written into the SQL as a constant: a constant
    predicate on _loaded_at lets the engine skip storage blocks (DuckDB zone maps over raw rows that
    are appended in _loaded_at order, Snowflake micro-partition pruning), a scalar subquery does not.
    Elsewhere (parsing, unit tests, whose `this` is a fixture) it stays a subquery.
-#}
{% macro loaded_at_watermark(column) -%}
    {%- set lookback = var('eventpipe_watermark_lookback_minutes', 0) | int -%}
    {%- set value = "coalesce(max(" ~ column ~ "), cast('1900-01-01' as " ~ dbt.type_timestamp() ~ "))" -%}
    {%- if lookback > 0 -%}
        {%- set value = dbt.dateadd('minute', -lookback, value) -%}
    {%- endif -%}
    {{ constant_or_subquery(value, this) }}
{%- endmacro %}

{#-
    `select <expression> from <relation>` as a timestamp constant when dbt executes a model (not a
    unit test), else as a scalar subquery. The expression must not be null.
-#}
{% macro constant_or_subquery(expression, relation, where=none) -%}
    {%- set query -%}
        select {{ expression }} from {{ relation }}{% if where %} where {{ where }}{% endif %}
    {%- endset -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set found = run_query("select cast((" ~ query ~ ") as " ~ dbt.type_string() ~ ")").columns[0].values()[0] -%}
        cast('{{ found }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        ({{ query }})
    {%- endif -%}
{%- endmacro %}
