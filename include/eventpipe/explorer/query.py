"""The one place SQL text is assembled: WHERE and ORDER BY over ``explorer_journeys.sql``, and the organizations a
user may see (``scope_sql``, in every explorer query: the server's filter, whatever the client sends).

Column names come only from ``columns.BY_NAME`` (checked again here, whatever the caller validated);
operators map to fixed SQL fragments; every value is a bound ``$name`` parameter (eventpipe.sql's one style,
which the warehouse's fetch writes in its driver's: ``eventpipe.sql.to_driver``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventpipe.explorer.columns import BY_NAME, Op
from eventpipe.explorer.models import Filter, JourneyQuery, Sort, TimeRange, coerce
from eventpipe.sql import read_sql

# The LIKE escape character: not a backslash, which Snowflake string literals would treat as an escape.
ESCAPE = "!"


def _column(name: str) -> str:
    if name not in BY_NAME:  # unreachable through the API's models; a guard for any other caller
        raise ValueError(f"unknown column {name!r}")
    return name


def _like_pattern(text: str, prefix_only: bool) -> str:
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", f"{ESCAPE}%").replace("_", f"{ESCAPE}_")
    return f"{escaped}%" if prefix_only else f"%{escaped}%"


def filter_sql(index: int, condition: Filter, params: dict[str, Any]) -> str:
    column, name = _column(condition.column), f"f{index}"
    op = condition.op
    if op is Op.HAS_VALUE:
        return f"{column} is not null"
    if op is Op.HAS_NO_VALUE:
        return f"{column} is null"
    if op in (Op.ANY_OF, Op.NOT_ANY_OF):
        names = []
        for position, value in enumerate(condition.values or []):
            params[f"{name}_{position}"] = coerce(column, value)
            names.append(f"${name}_{position}")
        listed = f"{column} in ({', '.join(names)})"
        # "is not any of" keeps rows without a value, as "does not equal" does
        return listed if op is Op.ANY_OF else f"({column} is null or not {listed})"
    if op is Op.BETWEEN:
        low, high = (coerce(column, value) for value in condition.values or [])
        params[f"{name}_low"], params[f"{name}_high"] = low, high
        return f"{column} between ${name}_low and ${name}_high"
    value = coerce(column, condition.value)
    if op in (Op.GREATER_THAN, Op.LESS_THAN):
        params[name] = value
        return f"{column} {'>' if op is Op.GREATER_THAN else '<'} ${name}"
    if op is Op.EQUALS:
        params[name] = value
        return f"{column} = ${name}"
    if op is Op.NOT_EQUALS:
        params[name] = value
        return f"{column} is distinct from ${name}"
    # starts with / contains: case-insensitive, the value's own % and _ taken literally
    params[name] = _like_pattern(value, prefix_only=op is Op.STARTS_WITH)
    return f"{column} ilike ${name} escape '{ESCAPE}'"


def time_range_sql(time_range: TimeRange, params: dict[str, Any]) -> list[str]:
    clauses = []
    if time_range.start is not None:
        params["range_start"] = time_range.start
        clauses.append("started_event >= $range_start")
    if time_range.end is not None:
        params["range_end"] = time_range.end
        clauses.append("started_event < $range_end")
    return clauses


def where_sql(filters: list[Filter], time_range: TimeRange, params: dict[str, Any]) -> str:
    clauses = [filter_sql(i, condition, params) for i, condition in enumerate(filters)]
    clauses += time_range_sql(time_range, params)
    return " and ".join(clauses) if clauses else "true"


def order_sql(sort: list[Sort]) -> str:
    keys = [f"{_column(key.column)} {'desc' if key.direction == 'desc' else 'asc'} nulls last" for key in sort]
    # a total order, so pages never overlap or skip rows: a journey is (organization, journey_id)
    for column in ("journey_id", "organization"):
        if not any(key.column == column for key in sort):
            keys.append(f"{column} asc")
    return ", ".join(keys)


def scope_sql(organizations: frozenset[str] | None, params: dict[str, Any]) -> str:
    """What fills a query's ``{organizations}``: ``organization_id in (...)`` (bound values) for a user limited to
    some organizations, ``true`` for one who sees them all (None)."""
    if organizations is None:
        return "true"
    names = []
    for position, organization in enumerate(sorted(organizations)):
        params[f"scope_{position}"] = organization
        names.append(f"$scope_{position}")
    return f"organization_id in ({', '.join(names)})" if names else "false"


def scoped_sql(engine: str, name: str, organizations: frozenset[str] | None, params: dict[str, Any]) -> str:
    """The named explorer query limited to ``organizations`` (its scope parameters added to ``params``)."""
    return read_sql(engine, name).format(organizations=scope_sql(organizations, params))


def _journeys(engine: str, organizations: frozenset[str] | None, params: dict[str, Any]) -> str:
    return scoped_sql(engine, "explorer_journeys", organizations, params).strip().rstrip(";")


def journeys_page_sql(
    engine: str, query: JourneyQuery, organizations: frozenset[str] | None = None
) -> tuple[str, str, dict[str, Any]]:
    """(count SQL, page SQL, parameters) for a journeys query; the page SQL adds $page_limit, $page_offset."""
    params: dict[str, Any] = {}
    where = where_sql(query.filters, query.time_range, params)
    head = f"with journeys as (\n{_journeys(engine, organizations, params)}\n)\n"
    count = f"{head}select count(*) as total from journeys where {where}"
    page = (
        f"{head}select * from journeys where {where}\n"
        f"order by {order_sql(query.sort)}\nlimit $page_limit offset $page_offset"
    )
    return count, page, params


def journey_sql(engine: str, organizations: frozenset[str] | None, params: dict[str, Any]) -> str:
    """One journey: a session is (organization, journey_id), as session ids are unique only within an organization."""
    return (
        f"with journeys as (\n{_journeys(engine, organizations, params)}\n)\n"
        "select * from journeys where organization = $organization and journey_id = $journey_id"
    )


def facet_sql(engine: str, column: str, organizations: frozenset[str] | None, params: dict[str, Any]) -> str:
    column = _column(column)
    return (
        f"with journeys as (\n{_journeys(engine, organizations, params)}\n)\n"
        f"select {column} as value, count(*) as sessions from journeys"
        f" where $prefix is null or {column} ilike $prefix escape '{ESCAPE}'"
        f" group by {column} order by sessions desc, value asc nulls last limit $facet_limit"
    )


def prefix_pattern(prefix: str | None) -> str | None:
    return None if not prefix else _like_pattern(prefix, prefix_only=True)


def range_params(start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    return {"range_start": start or datetime(1, 1, 1), "range_end": end or datetime(9999, 12, 31)}
