"""The ground truth of a generated landing zone: what the warehouse should say once every valid event is loaded.

Counted from the generator's own model as it goes, never by reading the files back, so it checks the pipeline
independently.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, fields

from eventpipe.contract import KINDS
from eventpipe.devtools.generate.catalog import Org
from eventpipe.devtools.generate.events import TimedEvent, iso_utc


@dataclass(slots=True)
class SessionTruth:
    """What the warehouse should say about one session once every valid event is loaded."""

    organization_id: str
    app_id: str
    branch_id: str
    deploy_id: str
    started_at: str  # min event time, ISO UTC ``...Z``
    ended_at: str | None  # time of session_end, None while open
    last_event_at: str
    is_closed: bool
    event_count: int
    action_runs: int
    actions_fired: int  # distinct action ids among action_run
    action_errors: int
    runtime_errors: int
    messages_sent: int
    messages_received: int
    device_class: str | None
    csat_score: int | None  # the last CSAT custom_metric by event time


@dataclass
class Truth:
    """Expected counts for a generated landing zone. ``lines == sum(events) + duplicates + sum(quarantined)``."""

    files: int = 0
    lines: int = 0
    lines_per_file: dict[str, int] = field(default_factory=dict)  # path relative to the landing zone
    quarantined: dict[str, int] = field(default_factory=dict)  # reason code -> lines (codes that occur)
    duplicates: int = 0  # re-sent, byte-identical copies of valid events
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))  # distinct valid ids
    late_events: int = 0  # distinct valid events whose arrival hour is after their event-time hour
    sessions: dict[str, SessionTruth] = field(default_factory=dict)
    custom_metric_values: int = 0
    audit_by_type: dict[str, int] = field(default_factory=dict)
    platform_by_service_day: dict[str, dict[str, int]] = field(default_factory=dict)  # "service|YYYY-MM-DD"
    app_daily: dict[str, dict[str, int]] = field(default_factory=dict)  # "org|app|YYYY-MM-DD" of started_at

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: its deep copy of every session costs more than the JSON encoding.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["sessions"] = {sid: _session_dict(session) for sid, session in self.sessions.items()}
        return data

    def to_json(self) -> str:
        # Compact on purpose: with indentation the stdlib falls back to its pure-Python encoder.
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> Truth:
        sessions = {sid: SessionTruth(**values) for sid, values in data["sessions"].items()}
        return cls(**{**data, "sessions": sessions})

    @classmethod
    def from_json(cls, text: str | bytes) -> Truth:
        return cls.from_dict(json.loads(text))


_SESSION_FIELDS = tuple(f.name for f in fields(SessionTruth))


def _session_dict(session: SessionTruth) -> dict:
    return {name: getattr(session, name) for name in _SESSION_FIELDS}


def summarize_session(org: Org, events: list[TimedEvent]) -> SessionTruth:
    """The session's truth from its valid events, which are in event-time order."""
    first = events[0][1]
    types = Counter(event["type"] for _, event in events)
    fired = {event["action"]["id"] for _, event in events if event["type"] == "action_run"}
    csat = [
        event["customMetric"]["value"]
        for _, event in events
        if event["type"] == "custom_metric" and event["customMetric"]["key"] == "CSAT"
    ]
    ended = [event_ms for event_ms, event in events if event["type"] == "session_end"]
    return SessionTruth(
        organization_id=org.org_id,
        app_id=first["appId"],
        branch_id=first["branchId"],
        deploy_id=first["deployId"],
        started_at=iso_utc(events[0][0]),
        ended_at=iso_utc(ended[-1]) if ended else None,
        last_event_at=iso_utc(events[-1][0]),
        is_closed=bool(ended),
        event_count=len(events),
        action_runs=types["action_run"],
        actions_fired=len(fired),
        action_errors=types["action_error"],
        runtime_errors=types["runtime_error"],
        messages_sent=types["message_sent"],
        messages_received=types["message_received"],
        device_class=first["userAgent"]["deviceClass"] if first["type"] == "session_start" else None,
        csat_score=csat[-1] if csat else None,
    )
