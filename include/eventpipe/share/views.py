"""The six share views: Airkit's documented names and columns, mapped ONCE onto the dbt marts.

Each column is a Snowflake SQL expression over the view's source relation (aliased ``src``). The
same structure renders the Snowflake secure views and, transpiled by sqlglot, the local DuckDB
views (``render_select``): there is no second copy of the mapping to drift.

Every view has the same shape: source rows joined to the private ``sharing_access`` mapping on
ORGANIZATION_ID, filtered to the querying account. The join, not a WHERE ... IN list, carries the
mapping's ``pii_allowed`` into each row, so masking is decided per (organization, account) in the
same query that decides visibility. A column marked ``pii`` is masked unless that row's mapping
grants PII (see ``MASK``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot

# What a consumer without PII rights sees instead of a value (NULL stays NULL: "has an email" is not PII).
MASK = "'***MASKED***'"


@dataclass(frozen=True)
class Column:
    name: str  # Airkit's documented UPPER_SNAKE name (or an eventpipe extension, see ``extension``)
    expr: str  # Snowflake SQL over ``src``
    type: str  # Snowflake type, for the docs
    pii: bool = False  # masked unless the consumer's mapping row has pii_allowed
    extension: bool = False  # not in Airkit's documented list: an eventpipe addition
    note: str = ""


@dataclass(frozen=True)
class ShareView:
    name: str
    mart: str  # the dbt mart the rows come from
    columns: tuple[Column, ...]
    description: str
    # Documented Airkit columns the marts cannot fill (listed in docs/querying-the-share.md).
    unmapped: tuple[str, ...] = ()
    # SQL of a derived relation over the mart (``{mart}`` is replaced by its qualified name), for
    # views whose grain is not the mart's; None reads the mart directly.
    derived: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _time(column: str, prefix: str, note: str = "") -> tuple[Column, ...]:
    """A UTC timestamp as TIMESTAMP_NTZ plus Airkit's *_YEAR NUMBER, *_MONTH DATE and *_DATE DATE."""
    src = f"src.{column}"
    return (
        Column(f"{prefix}_TIME", f"CAST({src} AS TIMESTAMP_NTZ)", "TIMESTAMP_NTZ", note=note),
        Column(f"{prefix}_YEAR", f"YEAR({src})", "NUMBER"),
        Column(f"{prefix}_MONTH", f"CAST(DATE_TRUNC('MONTH', {src}) AS DATE)", "DATE"),
        Column(f"{prefix}_DATE", f"CAST({src} AS DATE)", "DATE"),
    )


def _col(name: str, type_: str = "VARCHAR", source: str | None = None, **kwargs) -> Column:
    """A column copied from the mart column of the same name (lower case) or ``source``."""
    return Column(name, f"src.{source or name.lower()}", type_, **kwargs)


ORGANIZATION = _col("ORGANIZATION_ID", note="Organization that owns the row; every view has it.")

SESSION_EVENT = ShareView(
    name="SESSION_EVENT",
    mart="fct_session_events",
    description="One row per Session event (a step of an end user's Journey through an app).",
    columns=(
        ORGANIZATION,
        _col("EVENT_ID"),
        *_time("event_time", "EVENT"),
        _col("APP_ID"),
        _col("BRANCH_ID"),
        _col("DEPLOY_ID"),
        _col("SESSION_ID"),
        _col("EVENT_TYPE", note="session_start, session_end, action_run, action_error, runtime_error, ..."),
        _col("ACTOR_ID"),
        _col("CHANNEL_ID"),
        _col("FLOW_ID"),
        _col("ACTIVITY_ID"),
        _col("SOURCE_RUNTIME"),
        _col("SOURCE_DETAIL"),
        Column(
            "USER_AGENT",
            "CASE WHEN COALESCE(src.device_class, src.browser, src.os) IS NOT NULL THEN"
            " OBJECT_CONSTRUCT_KEEP_NULL('deviceClass', src.device_class, 'browser', src.browser, 'os', src.os) END",
            "OBJECT",
            note="{deviceClass, browser, os} when the event carries a user agent (session_start).",
        ),
        _col("SCREEN_WIDTH", "NUMBER"),
        _col("SCREEN_HEIGHT", "NUMBER"),
        _col("STATUS"),
        _col("CODE"),
        _col("MESSAGE", extension=True, note="Error or status message (action_error, runtime_error)."),
        _col("DURATION_MILLIS", "NUMBER"),
        _col("ACTION_ID", note="One of Airkit's ACTION_* columns."),
        _col("ACTION_NAME", note="One of Airkit's ACTION_* columns."),
        Column(
            "CUSTOM_METRICS",
            "CASE WHEN src.custom_metric_key IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL("
            "'key', src.custom_metric_key, 'field', src.custom_metric_field, 'value', src.custom_metric_value) END",
            "OBJECT",
            note="The event's customMetric {key, field, value} (custom_metric events).",
        ),
        _col(
            "APP_EVENT_NAME",
            source="analytics_event_name",
            note="analyticsEvent.event (analytics_event events); one of Airkit's APP_EVENT_* columns.",
        ),
        _col(
            "APP_EVENT_PROPERTIES",
            "VARIANT",
            source="analytics_event_properties",
            note="analyticsEvent.properties; one of Airkit's APP_EVENT_* columns.",
        ),
    ),
    unmapped=(
        "DEFAULT_METRICS",
        "SAVEPOINT_REVISION",
        "CHANNEL_KEY",
        "RESOURCE_ID",
        "ACTIVITY_GROUP_ID",
        "CLIENT",
        "HTTP_SOURCE",
        "SERVICE",
        "SERVICE_VERSION",
        "EXTERNAL_ID",
        "CXR_VERSION",
        "CONTROL_*",
        "TRIGGER_ID",
        "PROFILE_ID",
        "EVENT_SOURCE_*",
        "CONNECTION_ID",
        "EVENT_HANDLER_*",
    ),
)

AUDIT_EVENT = ShareView(
    name="AUDIT_EVENT",
    mart="fct_audit_events",
    description="One row per Audit event: who did what in the organization (logins, deployments, keys, ...).",
    columns=(
        ORGANIZATION,
        _col("EVENT_ID"),
        *_time("event_time", "EVENT"),
        _col("EVENT_TYPE", note="user_login, invalid_login, app_deployed, deleted_api_key, ..."),
        _col("USER_ID"),
        _col("EMAIL", pii=True, note="PII: '***MASKED***' unless the consumer is granted PII."),
        _col("APP_ID"),
        _col("RESOURCE_TYPE"),
        _col("RESOURCE_ID"),
        _col("DOMAIN"),
        _col("API_KEY_ID"),
        _col("ROLE_ID"),
        _col("LOGIN_TYPE"),
    ),
    unmapped=(
        "BRANCH_ID",
        "DEPLOY_ID",
        "SAVEPOINT_ID",
        "SAVEPOINT_REVISION",
        "DATASTORE_ID",
        "NOTIFIER_ID",
        "SAML_ID",
        "WEBHOOK_ID",
        "ADAPTER_ID",
        "EMBED_ID",
        "SERVICE",
        "SERVICE_REVISION",
        "ROOT_SCOPE_USER_ID",
    ),
)

PLATFORM_EVENT = ShareView(
    name="PLATFORM_EVENT",
    mart="fct_platform_events",
    description="One row per Platform event: the apps' connections and the services behind them.",
    columns=(
        ORGANIZATION,
        _col("EVENT_ID"),
        *_time("event_time", "EVENT"),
        _col("APP_ID", extension=True),
        _col("EVENT_TYPE", note="connection_request, service_error, deployment_health, ..."),
        _col("STATUS"),
        _col("MESSAGE"),
        _col("SERVICE"),
        _col("SERVICE_VERSION"),
        _col("CONNECTION_ID"),
        _col("GROUP_ID"),
        _col("DURATION_MILLIS", "NUMBER"),
    ),
    unmapped=("CXR_VERSION",),
)

SESSION_SUMMARY = ShareView(
    name="SESSION_SUMMARY",
    mart="fct_sessions",
    description="One row per session (Journey): its time span and what happened in it.",
    columns=(
        ORGANIZATION,
        _col("SESSION_ID"),
        _col("APP_ID"),
        _col("BRANCH_ID"),
        _col("DEPLOY_ID"),
        *_time("started_at", "FIRST_EVENT", note="The session's earliest event."),
        Column("LAST_EVENT_TIME", "CAST(src.last_event_at AS TIMESTAMP_NTZ)", "TIMESTAMP_NTZ"),
        Column(
            "START_EVENT_TIME",
            "CAST(src.started_at AS TIMESTAMP_NTZ)",
            "TIMESTAMP_NTZ",
            note="The mart keeps the earliest event's time, which is the session_start's in a well-formed"
            " session; equal to FIRST_EVENT_TIME.",
        ),
        Column(
            "END_EVENT_TIME",
            "CAST(src.ended_at AS TIMESTAMP_NTZ)",
            "TIMESTAMP_NTZ",
            note="The session_end's time; NULL while the session is open.",
        ),
        _col("ACTIONS_FIRED", "NUMBER", note="Distinct actions run."),
        _col("EVENTS_OCCURRED", "NUMBER", source="event_count"),
        _col("ACTION_RUNS", "NUMBER"),
        _col("ACTION_ERRORS", "NUMBER"),
        _col("RUNTIME_ERRORS", "NUMBER"),
        _col("MESSAGES_SENT", "NUMBER"),
        _col("MESSAGES_RECEIVED", "NUMBER"),
        Column(
            "USER_AGENT",
            "CASE WHEN src.device_class IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL('deviceClass', src.device_class)"
            " END",
            "OBJECT",
            note="{deviceClass} of the session_start (the automatic metric UserAgent.DeviceClass).",
        ),
        Column(
            "CUSTOM_METRICS",
            "CASE WHEN src.csat_score IS NOT NULL THEN OBJECT_CONSTRUCT_KEEP_NULL('CSAT', src.csat_score) END",
            "OBJECT",
            note="{CSAT: last reported score}; NULL without one. Every metric: CUSTOM_SESSION_METRIC.",
        ),
        _col("STATUS", extension=True, note="'open' or 'closed' (has a session_end), as in Activity Explorer."),
        _col("DURATION_MILLIS", "NUMBER", source="duration_ms", extension=True, note="First to end (or last) event."),
    ),
    unmapped=(
        "FIRST_EVENT_ID",
        "LAST_EVENT_ID",
        "START_EVENT_ID",
        "END_EVENT_ID",
        "ERRORS_THROWN",
        "voice / call fields",
        "EXTERNAL_IDENTIFIERS",
        "BUILTIN_METRICS",
        "DEFAULT_METRICS",
        "SELECTOR_METRICS",
    ),
)

CUSTOM_METRIC_FIELD_EVENT = ShareView(
    name="CUSTOM_METRIC_FIELD_EVENT",
    mart="fct_custom_metric_values",
    description="One row per custom metric value an app reported (CSAT score, seconds on a page, ...).",
    columns=(
        ORGANIZATION,
        _col("EVENT_ID"),
        *_time("event_time", "EVENT"),
        _col("APP_ID"),
        _col("SESSION_ID"),
        _col("CUSTOM_METRIC_KEY", source="metric_key", note="e.g. CSAT, time_on_page."),
        _col(
            "CUSTOM_METRIC_FIELD_KEY",
            source="metric_field",
            extension=True,
            note="The metric's field (CSAT: score; time_on_page: the page).",
        ),
        _col("FIELD_VALUE", source="value_text", note="The value as text (strings unquoted, numbers as JSON)."),
        _col(
            "FIELD_VALUE_NUMBER",
            "FLOAT",
            source="value_number",
            extension=True,
            note="The value when it is a number, else NULL.",
        ),
    ),
)

# Per session, metric key and field: the first/last are by event time (then event id, for ties). A session is
# (organization_id, session_id): session ids are unique only within an organization, so the windows
# partition by the same columns the GROUP BY groups on, the organization first.
_SESSION_METRICS = """SELECT
        organization_id,
        app_id,
        session_id,
        metric_key,
        metric_field,
        COUNT(*) AS count_count,
        SUM(value_number) AS statistic_sum,
        MIN(value_number) AS statistic_minimum,
        MAX(value_number) AS statistic_maximum,
        MAX(CASE WHEN first_rank = 1 THEN value_number END) AS statistic_first,
        MAX(CASE WHEN last_rank = 1 THEN value_number END) AS statistic_last,
        MAX(CASE WHEN first_rank = 1 THEN value_text END) AS field_first,
        MAX(CASE WHEN last_rank = 1 THEN value_text END) AS field_last,
        MIN(event_time) AS first_event_time,
        MAX(event_time) AS last_event_time
    FROM (
        SELECT
            organization_id,
            app_id,
            session_id,
            metric_key,
            metric_field,
            value_number,
            value_text,
            event_time,
            ROW_NUMBER() OVER (
                PARTITION BY organization_id, app_id, session_id, metric_key, metric_field
                ORDER BY event_time, event_id
            ) AS first_rank,
            ROW_NUMBER() OVER (
                PARTITION BY organization_id, app_id, session_id, metric_key, metric_field
                ORDER BY event_time DESC, event_id DESC
            ) AS last_rank
        FROM {mart}
        WHERE session_id IS NOT NULL
    ) AS ranked
    GROUP BY organization_id, app_id, session_id, metric_key, metric_field"""

CUSTOM_SESSION_METRIC = ShareView(
    name="CUSTOM_SESSION_METRIC",
    mart="fct_custom_metric_values",
    description="One row per session, custom metric key and field: how often it was reported and its statistics.",
    derived=_SESSION_METRICS,
    columns=(
        ORGANIZATION,
        _col("APP_ID"),
        _col("SESSION_ID"),
        _col("CUSTOM_METRIC_KEY", source="metric_key"),
        _col("CUSTOM_METRIC_FIELD_KEY", source="metric_field", extension=True),
        _col("COUNT_COUNT", "NUMBER", note="Values reported."),
        _col("STATISTIC_SUM", "FLOAT", note="Sum of the numeric values (time_on_page: seconds on the page)."),
        _col("STATISTIC_MINIMUM", "FLOAT"),
        _col("STATISTIC_MAXIMUM", "FLOAT"),
        _col("STATISTIC_FIRST", "FLOAT", note="First value, when numeric."),
        _col("STATISTIC_LAST", "FLOAT", note="Last value, when numeric (CSAT: the score that counts)."),
        _col("FIELD_FIRST", note="First value as text (FIELD_VALUE of the first event)."),
        _col("FIELD_LAST", note="Last value as text."),
        Column("FIRST_EVENT_TIME", "CAST(src.first_event_time AS TIMESTAMP_NTZ)", "TIMESTAMP_NTZ", extension=True),
        Column("FIRST_EVENT_DATE", "CAST(src.first_event_time AS DATE)", "DATE", extension=True),
        Column("LAST_EVENT_TIME", "CAST(src.last_event_time AS TIMESTAMP_NTZ)", "TIMESTAMP_NTZ", extension=True),
    ),
)

VIEWS: tuple[ShareView, ...] = (
    SESSION_EVENT,
    AUDIT_EVENT,
    PLATFORM_EVENT,
    SESSION_SUMMARY,
    CUSTOM_METRIC_FIELD_EVENT,
    CUSTOM_SESSION_METRIC,
)


def column_sql(column: Column) -> str:
    """The column's select item; PII is masked by the mapping row joined as ``sa``."""
    if not column.pii:
        return f"{column.expr} AS {column.name}"
    # In the secure view, not a masking policy: see docs/querying-the-share.md ("PII").
    return (
        f"CASE WHEN sa.pii_allowed THEN {column.expr} WHEN {column.expr} IS NOT NULL THEN {MASK} END AS {column.name}"
    )


def render_select(view: ShareView, *, source_prefix: str, mapping_table: str, account_sql: str) -> str:
    """The view's SELECT in Snowflake SQL.

    ``source_prefix`` qualifies the mart (``ANALYTICS.MARTS`` / ``marts``), ``mapping_table`` is the
    sharing_access table, ``account_sql`` the querying account: ``CURRENT_ACCOUNT()`` in Snowflake, a
    literal in the local DuckDB share (one schema per account).
    """
    mart = f"{source_prefix}.{view.mart}"  # unquoted: Snowflake resolves it to the upper-case name dbt created
    source = f"(\n    {view.derived.format(mart=mart)}\n)" if view.derived else mart
    items = ",\n    ".join(column_sql(column) for column in view.columns)
    return (
        f"SELECT\n    {items}\n"
        f"FROM {source} AS src\n"
        f"INNER JOIN {mapping_table} AS sa\n"
        f"    ON sa.organization_id = src.organization_id\n"
        f"WHERE sa.snowflake_account = {account_sql}"
    )


def to_duckdb(snowflake_sql: str) -> str:
    """Snowflake SQL -> DuckDB SQL (TIMESTAMP_NTZ -> TIMESTAMP, OBJECT_CONSTRUCT_KEEP_NULL -> json_object, ...)."""
    return sqlglot.transpile(snowflake_sql, read="snowflake", write="duckdb", pretty=True)[0]
