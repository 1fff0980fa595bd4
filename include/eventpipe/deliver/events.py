"""The events an interval delivers, and the platform's stream envelope they travel in.

"The events of an interval" are the raw rows whose landing file the loader ledgered for that arrival hour
(``ops.loaded_file.interval_start``): a file's rows never change once loaded, so the set is the same on every
re-run, and every event belongs to exactly one interval (raw tables hold one row per event id).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from eventpipe.contract import ANALYTICS, AUDIT, SESSION
from eventpipe.warehouse import Warehouse, as_warehouse

EPOCH = datetime(1970, 1, 1)
# What parsing or serialising one event can raise: JSON nested deeper than the interpreter's recursion allows
# (RecursionError), invalid text (ValueError), a value JSON has no form for (TypeError, OverflowError).
UNSENDABLE = (ValueError, TypeError, RecursionError, OverflowError)


def unsendable_reason(exc: BaseException) -> str:
    """The dead-letter reason for an event that cannot be parsed or serialised (never the event's content)."""
    if isinstance(exc, RecursionError):
        return "too_deeply_nested: the event's JSON is nested too deeply to parse or serialise"
    return f"not_serialisable: {type(exc).__name__}: {str(exc)[:200]}"


@dataclass(frozen=True, slots=True)
class Event:
    organization_id: str
    event_id: str
    kind: str  # Session | Audit
    event_type: str
    event_time_iso: str  # UTC, milliseconds, Z
    event_time_ms: int
    app_id: str | None
    branch_id: str | None
    deploy_id: str | None
    session_id: str | None
    analytics_name: str | None
    analytics_properties: str | None  # JSON text
    payload: str  # the original event object, JSON text
    source_file: str
    batch_id: str = ""  # the load (or quarantine replay) that put the row in raw

    def envelope(self) -> dict[str, Any]:
        """The stream envelope: the platform's envelope fields first (eventTime in UTC), then the event's own."""
        body = json.loads(self.payload)
        out: dict[str, Any] = {
            "organizationId": self.organization_id,
            "eventTime": self.event_time_iso,
            "eventId": self.event_id,
            "appId": self.app_id,
            "branchId": self.branch_id,
            "sessionId": self.session_id,
            "deployId": self.deploy_id,
            "type": self.event_type,
            "kind": self.kind,
        }
        for key, value in body.items():
            if key not in out:
                out[key] = value
        return out

    def envelope_json(self) -> bytes:
        return json.dumps(self.envelope(), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class IntervalEvents:
    """An interval's events by kind (``Session``, ``Audit``, ``analytics``) and organization, in event id order."""

    interval_start: datetime
    by_kind: dict[str, dict[str, list[Event]]]

    def organizations(self) -> list[str]:
        return sorted({org for orgs in self.by_kind.values() for org in orgs})

    def of(self, kind: str, organization_id: str) -> list[Event]:
        return self.by_kind.get(kind, {}).get(organization_id, [])

    def count(self, kind: str) -> int:
        return sum(len(events) for events in self.by_kind.get(kind, {}).values())


def read_interval(
    target: Warehouse | duckdb.DuckDBPyConnection, interval_start: datetime, kinds: set[str]
) -> IntervalEvents:
    """Read only the kinds some destination needs (``analytics`` comes from the Session rows)."""
    warehouse = as_warehouse(target)
    by_kind: dict[str, dict[str, list[Event]]] = {}
    params = {"interval_start": interval_start}
    if kinds & {SESSION, ANALYTICS}:
        rows = warehouse.fetchall("delivery_session_events", params)
        sessions = _group(rows, SESSION)
        if SESSION in kinds:
            by_kind[SESSION] = sessions
        if ANALYTICS in kinds:
            by_kind[ANALYTICS] = {
                org: [e for e in events if e.event_type == "analytics_event"] for org, events in sessions.items()
            }
    if AUDIT in kinds:
        rows = warehouse.fetchall("delivery_audit_events", params)
        by_kind[AUDIT] = _group(rows, AUDIT)
    return IntervalEvents(interval_start, by_kind)


def _group(rows: list[tuple], kind: str) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for (
        org,
        event_id,
        event_time,
        event_type,
        app_id,
        branch_id,
        deploy_id,
        session_id,
        analytics_name,
        analytics_properties,
        payload,
        source_file,
        batch_id,
    ) in rows:
        # Formatted here, not in SQL, so that every engine gives the same text (event_time is naive UTC).
        event_time_ms = (event_time - EPOCH) // timedelta(milliseconds=1)
        event_time_iso = f"{event_time:%Y-%m-%dT%H:%M:%S}.{event_time.microsecond // 1000:03d}Z"
        grouped[org].append(
            Event(
                org,
                event_id,
                kind,
                event_type,
                event_time_iso,
                event_time_ms,
                app_id,
                branch_id,
                deploy_id,
                session_id,
                analytics_name,
                analytics_properties,
                payload,
                source_file,
                batch_id,
            )
        )
    return dict(grouped)
