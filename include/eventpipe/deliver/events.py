"""The events a unit of delivery holds (``eventpipe.deliver.ledger.Unit``), streamed from the warehouse a chunk at a
time, and the platform's stream envelope they travel in.

A unit's events are the raw rows of one load commit, organization and arrival hour: a commit's rows never change, so
the same unit streams the same events in the same order on every run, and every event belongs to exactly one unit
(raw tables hold one row per event id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventpipe import settings
from eventpipe.contract import ANALYTICS, AUDIT, SESSION
from eventpipe.deliver.ledger import Unit
from eventpipe.utc import naive_utc

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


def stream(fetchall: Callable[[str, dict], list[tuple]], unit: Unit, chunk: int | None = None) -> Iterator[Event]:
    """A unit's events in (session, event id) order, read ``chunk`` at a time (``analytics``: the Session events of
    type analytics_event; ``Session``: every App Event; ``Audit``: the Audit logs)."""
    chunk = chunk or settings.delivery_chunk_events()
    kind = SESSION if unit.kind == ANALYTICS else unit.kind
    if kind not in (SESSION, AUDIT):
        raise ValueError(f"no delivery reads {unit.kind} events")
    sql = "delivery_session_events" if kind == SESSION else "delivery_audit_events"
    params: dict[str, Any] = {
        "commit_seq": unit.commit_seq,
        "organization_id": unit.organization_id,
        "interval_start": unit.interval_start,
        "after_session": "",
        "after_event": "",
        "chunk": chunk,
    }
    if kind == SESSION:
        params["analytics_only"] = unit.kind == ANALYTICS
    while True:
        rows = fetchall(sql, params)
        for row in rows:
            yield event_of(row, kind)
        if len(rows) < chunk:
            return
        params["after_session"], params["after_event"] = rows[-1][7] or "", rows[-1][1]


def event_of(row: tuple, kind: str) -> Event:
    (org, event_id, event_time, event_type, app_id, branch_id, deploy_id, session_id, analytics_name,
     analytics_properties, payload, source_file, batch_id) = row  # fmt: skip
    event_time = naive_utc(event_time)
    # Formatted here, not in SQL, so that every engine gives the same text (event_time is naive UTC).
    event_time_ms = (event_time - EPOCH) // timedelta(milliseconds=1)
    event_time_iso = f"{event_time:%Y-%m-%dT%H:%M:%S}.{event_time.microsecond // 1000:03d}Z"
    return Event(
        org, event_id, kind, event_type, event_time_iso, event_time_ms, app_id, branch_id, deploy_id, session_id,
        analytics_name, _text(analytics_properties), _text(payload), source_file, batch_id,
    )  # fmt: skip


def _text(value: Any) -> str | None:
    """JSON as text: DuckDB returns JSON columns as text, Snowflake VARIANT as text too (a dict if ever parsed)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
