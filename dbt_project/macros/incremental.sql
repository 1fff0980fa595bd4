{#-
    The incremental marts hand over by load commit, never by a clock.

    Every write to the raw tables is one load commit, numbered by the warehouse in commit order
    (include/eventpipe/warehouse/commits.py): a raw row's _commit_seq is the commit that inserted
    it, and ops.load_commit has one row per commit, committed with the rows. When commit n is
    visible, every commit before it is too. A mart stores the greatest commit it absorbed in its own
    rows (_commit_seq per event, _max_commit_seq per session / day); a run takes the raw rows with

        absorbed_commit_seq(column) < _commit_seq <= last_commit_seq()

    and recomputes every key (event, session, app-day, service-day) they touch, from all of that
    key's rows, however old their event_time. A commit still open when the run looks is above
    last_commit_seq() (it cannot be numbered below a visible commit), so the next run takes it:
    nothing is skipped however the loaders' clocks (_loaded_at, information only) order the loads.
-#}

{#-
    absorbed_commit_seq(column): the greatest load commit this incremental mart has absorbed, its
    `column`'s greatest value in `this` (_commit_seq or _max_commit_seq); -1 when it holds none
    (commit 0 holds the rows of warehouses loaded before commits were numbered). Only inside
    is_incremental().
-#}
{% macro absorbed_commit_seq(column) -%}
    {{ constant_or_subquery("coalesce(max(" ~ column ~ "), -1)", this) }}
{%- endmacro %}

{#-
    last_commit_seq(): the highest load commit a run takes: the last one when the build started
    (record_build_bound, on-run-start), the same for every model of the build, so that the marts of
    one build hold exactly the same commits even while loads commit meanwhile (rows of later commits
    are visible to later queries, but above the bound). Parsing and unit tests read the source.
-#}
{% macro last_commit_seq() -%}
    {%- if execute and model.resource_type == 'model' -%}
        {{ constant_or_subquery("max(commit_seq)", "ops.dbt_build_bound") }}
    {%- else -%}
        {{ constant_or_subquery("coalesce(max(commit_seq), 0)", source('ops', 'load_commit')) }}
    {%- endif -%}
{%- endmacro %}

{#-
    record_build_bound(): on-run-start, the last load commit now (0 before any), in
    ops.dbt_build_bound, which last_commit_seq() reads for every model of the build.
-#}
{% macro record_build_bound() -%}
    create or replace table ops.dbt_build_bound as
    select coalesce(max(commit_seq), 0) as commit_seq from ops.load_commit
{%- endmacro %}

{#-
    `select <expression> from <relation> [where <where>]` as an integer constant when dbt executes
    a model (read with run_query first, so the engine prunes on it: raw is appended in commit order,
    DuckDB zone maps and Snowflake micro-partitions skip what is below a constant bound, not below a
    scalar subquery), else (parsing, unit tests, whose `this` and sources are fixtures) as a scalar
    subquery. The expression must be a non-null integer.
-#}
{% macro constant_or_subquery(expression, relation, where=none) -%}
    {%- set query -%}
        select {{ expression }} from {{ relation }}{% if where %} where {{ where }}{% endif %}
    {%- endset -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set found = run_query(query).columns[0].values()[0] -%}
        {%- set found = exceptions.raise_compiler_error("null from " ~ query) if found is none else found | int -%}
        cast({{ found }} as {{ dbt.type_bigint() }})
    {%- else -%}
        ({{ query }})
    {%- endif -%}
{%- endmacro %}
