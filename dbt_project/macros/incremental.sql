{#-
    Load watermark of an incremental mart: a scalar subquery for the greatest raw _loaded_at the
    mart has already absorbed (stored per row as _loaded_at or _max_loaded_at), minus the
    eventpipe_watermark_lookback_minutes var. Rows loaded at or after it are "new": a run
    recomputes every key (event, session, app-day, service-day) they touch, from all of that key's
    rows, however old their event_time. ">=" rather than ">" re-reads the newest batch once more,
    which is idempotent and covers rows that share the newest _loaded_at but landed after the
    previous run. Only valid inside is_incremental().
-#}
{% macro loaded_at_watermark(column) -%}
    {%- set lookback = var('eventpipe_watermark_lookback_minutes', 0) | int -%}
    {%- set watermark = "coalesce(max(" ~ column ~ "), cast('1900-01-01' as " ~ dbt.type_timestamp() ~ "))" -%}
    {%- if lookback > 0 -%}
        {%- set watermark = dbt.dateadd('minute', -lookback, watermark) -%}
    {%- endif -%}
    (select {{ watermark }} from {{ this }})
{%- endmacro %}
