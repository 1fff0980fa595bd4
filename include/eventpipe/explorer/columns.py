"""The journeys table's columns and filter operators: the only names a query may contain.

A column's ``name`` is both its API name and its column in ``explorer_journeys.sql``; nothing a
client sends becomes SQL text except through this whitelist. Values are always bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    TIMESTAMP = "timestamp"


class Op(StrEnum):
    HAS_VALUE = "has_value"
    HAS_NO_VALUE = "has_no_value"
    ANY_OF = "any_of"
    NOT_ANY_OF = "not_any_of"
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    STARTS_WITH = "starts_with"
    CONTAINS = "contains"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"
    BETWEEN = "between"


OP_LABELS = {
    Op.HAS_VALUE: "has a value",
    Op.HAS_NO_VALUE: "has no value",
    Op.ANY_OF: "is any of",
    Op.NOT_ANY_OF: "is not any of",
    Op.EQUALS: "equals",
    Op.NOT_EQUALS: "does not equal",
    Op.STARTS_WITH: "starts with",
    Op.CONTAINS: "contains",
    Op.GREATER_THAN: "is greater than (after)",
    Op.LESS_THAN: "is less than (before)",
    Op.BETWEEN: "is between (inclusive)",
}
NO_VALUE_OPS = frozenset({Op.HAS_VALUE, Op.HAS_NO_VALUE})
LIST_OPS = frozenset({Op.ANY_OF, Op.NOT_ANY_OF})
TEXT_OPS = frozenset({Op.STARTS_WITH, Op.CONTAINS})
# on number and time columns only; between takes 'values': [low, high], both ends included
COMPARISON_OPS = frozenset({Op.GREATER_THAN, Op.LESS_THAN, Op.BETWEEN})


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: Kind
    description: str

    @property
    def ops(self) -> tuple[Op, ...]:
        excluded = COMPARISON_OPS if self.kind is Kind.TEXT else TEXT_OPS
        return tuple(op for op in Op if op not in excluded)


# In the order the table shows them: the platform's Activity Explorer columns first.
COLUMNS: tuple[Column, ...] = (
    Column("branch", "Branch", Kind.TEXT, "App branch of the session"),
    Column("deploy", "Deploy", Kind.TEXT, "Deployment of the app the session ran"),
    Column("status", "Status", Kind.TEXT, "open, or closed once a session_end arrived"),
    Column("latest_event", "Latest Event", Kind.TIMESTAMP, "Time of the session's latest event (UTC)"),
    Column("started_event", "Started Event", Kind.TIMESTAMP, "Time of the session's first event (UTC)"),
    Column("closed_event", "Closed Event", Kind.TIMESTAMP, "Time of the session_end (UTC); empty while open"),
    Column("actions", "Actions", Kind.INTEGER, "Action runs"),
    Column("action_errors", "Action Errors", Kind.INTEGER, "action_error events"),
    Column("runtime_errors", "Runtime Errors", Kind.INTEGER, "runtime_error events"),
    Column("messages", "Messages", Kind.INTEGER, "Messages sent plus received"),
    Column("journey_id", "Journey ID", Kind.TEXT, "The session id (unique within its organization)"),
    Column("app", "App", Kind.TEXT, "App id"),
    Column("organization", "Organization", Kind.TEXT, "Organization id"),
    Column("device_class", "Device Class", Kind.TEXT, "userAgent.deviceClass of the session_start"),
    Column("duration_ms", "Duration (ms)", Kind.INTEGER, "First event to session_end (or latest event if open)"),
    Column("csat", "CSAT", Kind.NUMBER, "Last CSAT score reported in the session"),
    Column("events", "Events", Kind.INTEGER, "Events in the session"),
)
BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}
COLUMN_NAMES = tuple(BY_NAME)
