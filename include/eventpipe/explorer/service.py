"""What the explorer answers, independent of HTTP: each method is one request's queries on one
short-lived warehouse session, over the organizations the caller may see (``organizations``; None: all of them)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import quote

from eventpipe.explorer import query
from eventpipe.explorer.columns import BY_NAME, COLUMNS, OP_LABELS, Kind
from eventpipe.explorer.marts import MartsReader
from eventpipe.explorer.models import (
    AppQuality,
    Charts,
    ColumnInfo,
    ColumnsResponse,
    DataRange,
    Facet,
    FacetResponse,
    HourCount,
    Journey,
    JourneyPage,
    JourneyQuery,
    LoadRun,
    ServiceErrors,
    SessionDetail,
    SessionEvent,
)
from eventpipe.sql import read_sql

# Hourly bars up to this span of the chart, then the finest of day, month and year that keeps the series
# within MAX_BUCKETS points. The chart spans the requested range clamped to the data's (first session
# start to latest event), so an open or absurdly wide range ("year 1 to 9999") costs what the data costs.
MAX_HOURLY_SPAN = timedelta(hours=96)
MAX_BUCKETS = 1000
BUCKETS = ("hour", "day", "month", "year")
# Where the Airflow UI shows a DAG run, relative to the explorer's page (mounted at <base>/explorer/).
DEFAULT_RUN_URL = "../dags/{dag_id}/runs/{run_id}"


class NotFound(Exception):
    pass


class Explorer:
    def __init__(self, warehouse: MartsReader, run_url: str = DEFAULT_RUN_URL) -> None:
        self.warehouse = warehouse
        self.run_url = run_url

    def _sql(self, name: str, organizations: frozenset[str] | None, params: dict) -> str:
        """The named query limited to ``organizations``, with its ``$name`` parameters (the scope's added to
        ``params``): the warehouse's fetch writes them in its driver's style."""
        return query.scoped_sql(self.warehouse.engine, name, organizations, params)

    @staticmethod
    def columns() -> ColumnsResponse:
        return ColumnsResponse(
            columns=[
                ColumnInfo(name=c.name, label=c.label, kind=c.kind, description=c.description, ops=list(c.ops))
                for c in COLUMNS
            ],
            op_labels=dict(OP_LABELS),
        )

    def journeys(self, request: JourneyQuery, organizations: frozenset[str] | None = None) -> JourneyPage:
        count_sql, page_sql, params = query.journeys_page_sql(self.warehouse.engine, request, organizations)
        page_params = params | {
            "page_limit": request.page_size,
            "page_offset": (request.page - 1) * request.page_size,
        }
        with self.warehouse.session() as fetch:
            total = fetch(count_sql, params)[0]["total"]
            rows = fetch(page_sql, page_params) if total else []
        return JourneyPage(
            total=total,
            page=request.page,
            page_size=request.page_size,
            pages=math.ceil(total / request.page_size),
            rows=[Journey(**row) for row in rows],
        )

    def session(self, organization: str, journey_id: str, organizations: frozenset[str] | None = None) -> SessionDetail:
        """One session: (organization, journey_id), since two organizations may use the same session id. Another
        organization's session is "not found", exactly as one that does not exist."""
        with self.warehouse.session() as fetch:
            params = {"organization": organization, "journey_id": journey_id}
            found = fetch(query.journey_sql(self.warehouse.engine, organizations, params), params)
            if not found:
                raise NotFound(f"No journey {journey_id!r} of organization {organization!r} in marts.fct_sessions")
            events = fetch(
                read_sql(self.warehouse.engine, "explorer_session_events"),
                {"organization_id": organization, "session_id": journey_id},
            )
        runs: dict[str, LoadRun] = {}
        for event in events:
            batch = event["batch_id"]
            if batch not in runs:
                runs[batch] = LoadRun(
                    batch_id=batch,
                    dag_id=event["dag_id"],
                    run_id=event["run_id"],
                    interval_start=event["interval_start"],
                    url=self.run_link(event["dag_id"], event["run_id"]),
                )
        return SessionDetail(
            journey=Journey(**found[0]),
            events=[SessionEvent(**event) for event in events],
            runs=sorted(runs.values(), key=lambda run: (run.interval_start or datetime.min, run.batch_id)),
        )

    def run_link(self, dag_id: str | None, run_id: str | None) -> str | None:
        if not dag_id or not run_id:
            return None
        return self.run_url.format(dag_id=quote(dag_id, safe=""), run_id=quote(run_id, safe=""))

    def charts(
        self, start: datetime | None, end: datetime | None, organizations: frozenset[str] | None = None
    ) -> Charts:
        params = query.range_params(start, end)
        scope: dict = {}
        sql = {
            name: self._sql(f"explorer_{name}", organizations, scope)
            for name in ("data_range", "sessions_per_hour", "app_quality", "service_errors")
        }
        params |= scope
        with self.warehouse.session() as fetch:
            data = fetch(sql["data_range"], scope)[0]
            hours = fetch(sql["sessions_per_hour"], params)
            apps = fetch(sql["app_quality"], params)
            services = fetch(sql["service_errors"], params)
        bucket, series = _buckets(hours, *_chart_span(start, end, data))
        return Charts(
            bucket=bucket,
            sessions_over_time=series,
            apps=[AppQuality(**row) for row in apps],
            services=[ServiceErrors(**row) for row in services],
        )

    def data_range(self, organizations: frozenset[str] | None = None) -> DataRange:
        params: dict = {}
        sql = self._sql("explorer_data_range", organizations, params)
        with self.warehouse.session() as fetch:
            return DataRange(**fetch(sql, params)[0])

    def facet(
        self, column: str, prefix: str | None, limit: int, organizations: frozenset[str] | None = None
    ) -> FacetResponse:
        if column not in BY_NAME or BY_NAME[column].kind is not Kind.TEXT:
            raise NotFound(f"No text column {column!r}")
        params = {"prefix": query.prefix_pattern(prefix), "facet_limit": limit}
        sql = query.facet_sql(self.warehouse.engine, column, organizations, params)
        with self.warehouse.session() as fetch:
            rows = fetch(sql, params)
        return FacetResponse(column=column, values=[Facet(**row) for row in rows])


def _chart_span(start: datetime | None, end: datetime | None, data: dict) -> tuple[datetime | None, datetime | None]:
    """The instants the chart's buckets run between: the requested ``[start, end)`` clamped to the data's
    range (first session start to latest event); None where the range or the data leaves an end open."""
    first, last = data["first_started"], data["last_event"]
    if start is not None and (first is None or start > first):
        first = start
    if end is not None and (last is None or end - timedelta(microseconds=1) < last):
        last = end - timedelta(microseconds=1)
    return first, last


def _truncate(moment: datetime, bucket: str) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    if bucket in ("day", "month", "year"):
        moment = moment.replace(hour=0)
    if bucket in ("month", "year"):
        moment = moment.replace(day=1)
    return moment.replace(month=1) if bucket == "year" else moment


def _count(first: datetime, last: datetime, bucket: str) -> int:
    """How many buckets of width ``bucket`` cover [first, last]."""
    if bucket == "hour":
        return (_truncate(last, "hour") - _truncate(first, "hour")) // timedelta(hours=1) + 1
    if bucket == "day":
        return (last.date() - first.date()).days + 1
    if bucket == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return last.year - first.year + 1


def _next(moment: datetime, bucket: str) -> datetime | None:
    """The start of the bucket after ``moment``'s, None past year 9999."""
    try:
        if bucket == "hour":
            return moment + timedelta(hours=1)
        if bucket == "day":
            return moment + timedelta(days=1)
        if bucket == "month":
            return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
        return moment.replace(year=moment.year + 1)
    except (OverflowError, ValueError):
        return None


def _buckets(rows: list[dict], first: datetime | None, last: datetime | None) -> tuple[str, list[HourCount]]:
    """Counts per bucket over [first, last] (the chart's span) with the empty buckets filled in: hourly up to
    MAX_HOURLY_SPAN, else the finest width that keeps the series within MAX_BUCKETS points."""
    if not rows:
        return "hour", []
    first = min(first or rows[0]["bucket_start"], rows[0]["bucket_start"])
    last = max(last or rows[-1]["bucket_start"], rows[-1]["bucket_start"])
    bucket = "hour"
    if last - first > MAX_HOURLY_SPAN:
        bucket = next((b for b in BUCKETS[1:] if _count(first, last, b) <= MAX_BUCKETS), "year")
    counts: dict[datetime, list[int]] = {}
    moment: datetime | None = _truncate(first, bucket)
    while moment is not None and moment <= last:
        counts[moment] = [0, 0]
        moment = _next(moment, bucket)
    for row in rows:
        key = _truncate(row["bucket_start"], bucket)
        counts[key][0] += row["sessions_started"]
        counts[key][1] += row["sessions_completed"]
    return bucket, [HourCount(bucket_start=k, sessions_started=s, sessions_completed=c) for k, (s, c) in counts.items()]
