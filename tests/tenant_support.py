"""Landing lines where two organizations use the same session id (written here, not by the generator).

A session is (organizationId, sessionId): session ids are unique only within an organization. These
lines go through the real load like any landing file; the tests check that every mart, share view and
explorer answer keeps the two sessions apart. Each organization's session differs in every figure a
merge would mix up: start time, device class, counts, status and CSAT.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SHARED_SESSION_ID = "shared-session-0001"


@dataclass(frozen=True)
class CollidingSession:
    """What the marts must say about one organization's session of the shared id."""

    organization_id: str
    app_id: str
    session_id: str
    event_ids: tuple[str, ...]
    started_at: datetime  # naive UTC, as the warehouse stores it
    ended_at: datetime | None
    device_class: str
    action_runs: int
    messages_sent: int
    csat_score: float | None


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def session_event(
    org: str, app: str, session_id: str, number: int, event_type: str, moment: datetime, **fields
) -> dict:
    """A Session event of ``org``'s session ``session_id``; its id is unique to (org, session, number)."""
    return {
        "eventId": f"collide-{org}-{session_id}-{number:02d}",
        "organizationId": org,
        "eventTime": _iso(moment),
        "kind": "Session",
        "type": event_type,
        "appId": app,
        "branchId": f"{app}-main",
        "deployId": f"{app}-deploy-1",
        "sessionId": session_id,
        **fields,
    }


def colliding_events(
    orgs: tuple[str, str], apps: tuple[str, str], hour: datetime, session_id: str = SHARED_SESSION_ID
) -> tuple[list[dict], dict[str, CollidingSession]]:
    """Events of two sessions with the same id, one per organization, within ``hour`` (naive UTC).

    The first organization's session starts later, is closed, has two action runs and a CSAT of 5;
    the second's starts earlier, stays open, sends three messages and reports a CSAT of 2 (earlier in the
    hour than the first's: a CSAT window keyed by session id alone would rank the two together).
    """
    (first, second), (first_app, second_app) = orgs, apps
    a0, b0 = hour + timedelta(minutes=20), hour + timedelta(minutes=5)
    events = [
        session_event(first, first_app, session_id, 1, "session_start", a0, userAgent={"deviceClass": "desktop"}),
        session_event(first, first_app, session_id, 2, "action_run", a0 + timedelta(seconds=5), action={"id": "a1"}),
        session_event(first, first_app, session_id, 3, "action_run", a0 + timedelta(seconds=9), action={"id": "a2"}),
        session_event(first, first_app, session_id, 4, "custom_metric", a0 + timedelta(seconds=30),
               customMetric={"key": "CSAT", "field": "score", "value": 5}),
        session_event(first, first_app, session_id, 5, "session_end", a0 + timedelta(minutes=2)),
        session_event(second, second_app, session_id, 1, "session_start", b0, userAgent={"deviceClass": "mobile"}),
        *(
            session_event(second, second_app, session_id, 1 + n, "message_sent", b0 + timedelta(seconds=10 * n))
            for n in (1, 2, 3)
        ),
        session_event(second, second_app, session_id, 5, "custom_metric", b0 + timedelta(seconds=40),
               customMetric={"key": "CSAT", "field": "score", "value": 2}),
    ]  # fmt: skip
    expected = {
        first: CollidingSession(first, first_app, session_id, tuple(e["eventId"] for e in events[:5]), a0,
                                a0 + timedelta(minutes=2), "desktop", 2, 0, 5.0),
        second: CollidingSession(second, second_app, session_id, tuple(e["eventId"] for e in events[5:]), b0,
                                 None, "mobile", 0, 3, 2.0),
    }  # fmt: skip
    return events, expected


def write_landing(landing: Path | str, arrival_hour: datetime, events: list[dict], name: str) -> Path:
    """``events`` as one gzip NDJSON landing file of ``arrival_hour``."""
    path = Path(landing) / f"dt={arrival_hour:%Y-%m-%d}" / f"hour={arrival_hour:%H}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in events)))
    return path


def write_colliding_sessions(
    landing: Path | str, orgs: tuple[str, str], apps: tuple[str, str], hour: datetime
) -> dict[str, CollidingSession]:
    """Land the two colliding sessions in ``hour``'s partition; what each organization's row must hold."""
    events, expected = colliding_events(orgs, apps, hour)
    write_landing(landing, hour, events, "colliding-sessions.ndjson.gz")
    return expected


def organizations_and_apps(truth) -> list[tuple[str, str]]:
    """(organization, one of its apps) for every organization a generator Truth has sessions of, sorted."""
    apps: dict[str, str] = {}
    for session in truth.sessions.values():
        apps.setdefault(session.organization_id, session.app_id)
    return sorted(apps.items())
