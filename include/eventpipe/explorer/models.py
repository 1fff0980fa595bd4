"""Request and response models of the explorer's JSON API (they are its OpenAPI spec).

Every filter is checked here, before any SQL exists: an unknown column or operator, an operator that
does not apply to the column's type, a missing or extra value, or a value of the wrong type is a 422
that names the filter and says what is wrong.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eventpipe.explorer.columns import BY_NAME, COLUMN_NAMES, LIST_OPS, NO_VALUE_OPS, OP_LABELS, Kind, Op
from eventpipe.utc import naive_utc

ColumnName = Literal[COLUMN_NAMES]  # type: ignore[valid-type]
Scalar = str | int | float
MAX_LIST_VALUES = 500


def coerce(column: str, value: Any) -> Any:
    """``value`` as the Python type of ``column``'s values, or ValueError saying why it cannot be."""
    kind = BY_NAME[column].kind
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError(f"{value!r} is not a {kind.value} value for column {column}")
    if kind is Kind.TEXT:
        return str(value)
    if kind is Kind.INTEGER:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            return int(value)
        raise ValueError(f"{value!r} is not an integer (column {column})")
    if kind is Kind.NUMBER:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number (column {column})") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number (column {column})")
        return number
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp (column {column})") from None
    try:
        return naive_utc(moment)
    except ValueError as error:
        raise ValueError(f"{error} (column {column})") from None


class Filter(BaseModel):
    """One condition on one column. ``value`` for equals / does not equal / starts with / contains /
    greater than / less than, ``values`` for is any of / is not any of and ``[low, high]`` for between
    (both ends included), neither for has a value / has no value."""

    model_config = ConfigDict(extra="forbid")

    column: ColumnName
    op: Op = Field(description="; ".join(f"{op.value}: {label}" for op, label in OP_LABELS.items()))
    value: Scalar | None = None
    values: list[Scalar] | None = Field(None, max_length=MAX_LIST_VALUES)

    @model_validator(mode="after")
    def _check(self) -> Filter:
        column = BY_NAME[self.column]
        if self.op not in column.ops:
            allowed = ", ".join(op.value for op in column.ops)
            raise ValueError(
                f"operator {self.op.value} does not apply to {column.kind.value} column {column.name}; "
                f"use one of: {allowed}"
            )
        if self.op in NO_VALUE_OPS:
            if self.value is not None or self.values is not None:
                raise ValueError(f"operator {self.op.value} takes no value")
        elif self.op in LIST_OPS:
            if self.value is not None or not self.values:
                raise ValueError(f"operator {self.op.value} needs a non-empty 'values' list (and no 'value')")
            for item in self.values:
                coerce(self.column, item)
        elif self.op is Op.BETWEEN:
            if self.value is not None or self.values is None or len(self.values) != 2:
                raise ValueError("operator between needs 'values': [low, high] (two values, and no 'value')")
            low, high = (coerce(self.column, item) for item in self.values)
            if low > high:
                raise ValueError(f"between: the low end {self.values[0]!r} is above the high end {self.values[1]!r}")
        else:
            if self.value is None or self.values is not None:
                raise ValueError(f"operator {self.op.value} needs one 'value' (and no 'values')")
            coerce(self.column, self.value)
        return self


class Sort(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: ColumnName
    direction: Literal["asc", "desc"] = "asc"


class TimeRange(BaseModel):
    """Sessions whose Started Event is in ``[start, end)``; either end may be open. Naive times are UTC."""

    model_config = ConfigDict(extra="forbid")

    start: datetime | None = None
    end: datetime | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else naive_utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("time_range.start must be before time_range.end")
        return self


class JourneyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: list[Filter] = Field(default_factory=list, max_length=50, description="All must hold (AND)")
    sort: list[Sort] = Field(
        default_factory=lambda: [Sort(column="started_event", direction="desc")],
        max_length=len(COLUMN_NAMES),
        description="Sort keys in order; empty values sort last; ties broken by journey_id",
    )
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=500)
    time_range: TimeRange = Field(default_factory=TimeRange)


class Journey(BaseModel):
    journey_id: str
    branch: str | None
    deploy: str | None
    status: str
    latest_event: datetime
    started_event: datetime
    closed_event: datetime | None
    actions: int
    action_errors: int
    runtime_errors: int
    messages: int
    app: str | None
    organization: str
    device_class: str | None
    duration_ms: int | None
    csat: float | None
    events: int


class JourneyPage(BaseModel):
    total: int = Field(description="Journeys matching the filters and time range")
    page: int
    page_size: int
    pages: int
    rows: list[Journey]


class ColumnInfo(BaseModel):
    name: str
    label: str
    kind: Kind
    description: str
    ops: list[Op]


class ColumnsResponse(BaseModel):
    columns: list[ColumnInfo]
    op_labels: dict[Op, str]


class LoadRun(BaseModel):
    """The load attempt (an Airflow DAG run's try) that inserted an event, from ops.load_batch."""

    batch_id: str
    dag_id: str | None
    run_id: str | None
    interval_start: datetime | None
    url: str | None = Field(description="The DAG run in the Airflow UI, relative to this API's page")


class SessionEvent(BaseModel):
    event_id: str
    event_type: str
    event_time: datetime
    action_name: str | None
    status: str | None
    code: str | None
    message: str | None
    custom_metric_key: str | None
    custom_metric_field: str | None
    custom_metric_value: str | None
    duration_millis: int | None
    batch_id: str


class SessionDetail(BaseModel):
    journey: Journey
    events: list[SessionEvent]
    runs: list[LoadRun]


class HourCount(BaseModel):
    bucket_start: datetime
    sessions_started: int
    sessions_completed: int


class AppQuality(BaseModel):
    app: str | None
    sessions: int
    sessions_completed: int
    completion_rate: float
    avg_csat: float | None
    csat_responses: int


class ServiceErrors(BaseModel):
    service: str | None
    events: int
    errors: int
    error_rate: float


class Charts(BaseModel):
    bucket: Literal["hour", "day", "month", "year"] = Field(
        description="Width of a sessions_over_time point: hourly up to 96 hours, then the finest of day, month"
        " and year that keeps the series within the bucket cap"
    )
    sessions_over_time: list[HourCount]
    apps: list[AppQuality]
    services: list[ServiceErrors]


class DataRange(BaseModel):
    sessions: int
    first_started: datetime | None
    last_started: datetime | None
    last_event: datetime | None


class Facet(BaseModel):
    value: str | None
    sessions: int


class FacetResponse(BaseModel):
    column: str
    values: list[Facet]
