"""The event-log generator: deterministic bytes, the landing layout, every fault, and a truth that adds up.

The generated files are read back and judged here with small, independent checks (plain ``json`` and
``datetime``), so the generator's own model is tested against what it actually wrote.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventpipe.devtools.generate.faults import REASON_CODES
from eventpipe.devtools.generate.landing import generate
from eventpipe.devtools.generate.truth import Truth

START = datetime(2026, 11, 27, 10)
HOURS = 4
ARGS = dict(
    start=START,
    hours=HOURS,
    orgs=2,
    sessions_per_hour=8,
    seed=11,
    late_fraction=0.1,
    duplicate_fraction=0.05,
    malformed_fraction=0.05,
    files_per_hour=4,
)
KINDS = ("Session", "Audit", "Platform")
REQUIRED = ("eventId", "organizationId", "eventTime", "kind", "type")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FILE_PATH = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/events-(\d{8})T(\d{2})(\d{2})-(\d{4})\.json\.gz")
ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Line:
    path: str  # relative to the landing zone
    number: int
    raw: bytes
    arrival_hour: datetime


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> tuple[Path, Truth, list[Line]]:
    root = tmp_path_factory.mktemp("generated")
    truth = generate(landing=str(root / "landing"), truth_path=str(root / "truth.json"), **ARGS)
    return root, truth, read_lines(root / "landing")


def read_lines(landing: Path) -> list[Line]:
    lines = []
    for path in sorted(landing.rglob("*.json.gz")):
        relative = path.relative_to(landing).as_posix()
        day, hour = FILE_PATH.fullmatch(relative).group(1, 2)
        arrival_hour = datetime.fromisoformat(f"{day}T{hour}:00+00:00")
        data = gzip.decompress(path.read_bytes())
        assert data.endswith(b"\n"), relative
        for number, raw in enumerate(data[:-1].split(b"\n"), start=1):
            lines.append(Line(relative, number, raw, arrival_hour))
    return lines


# --- an independent judge of one line, in the validator's precedence ---------------------------------


def parse_event_time(value) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value < 0 or value != int(value):
            return None
        return EPOCH + timedelta(milliseconds=int(value))
    if not ISO_WITH_OFFSET.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def reason(line: Line) -> str | None:
    """The reason code this line must be quarantined with, or None when it is a valid event."""
    try:
        text = line.raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    if not text.strip():
        return "empty_line"
    try:
        event = json.loads(text)
    except ValueError:
        return "invalid_json"
    if not isinstance(event, dict):
        return "not_an_object"
    required = REQUIRED + (("appId", "sessionId") if event.get("kind") == "Session" else ())
    if any(event.get(name) is None or event.get(name) == "" for name in required):
        return "missing_required_field"
    if any(not isinstance(event[name], str) for name in required if name != "eventTime"):
        return "invalid_field_type"
    if isinstance(event["eventTime"], bool) or not isinstance(event["eventTime"], str | int | float):
        return "invalid_field_type"
    if event["kind"] not in KINDS:
        return "unknown_kind"
    moment = parse_event_time(event["eventTime"])
    if moment is None:
        return "invalid_event_time"
    if not line.arrival_hour - timedelta(days=366) <= moment <= line.arrival_hour + timedelta(hours=25):
        return "event_time_out_of_range"
    return None


def valid_events(lines: list[Line]) -> dict[str, list[Line]]:
    """eventId -> every valid line that carries it, in file order."""
    by_id: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        if reason(line) is None:
            by_id[json.loads(line.raw)["eventId"]].append(line)
    return by_id


def event_ms(event: dict) -> int:
    moment = parse_event_time(event["eventTime"])
    return (moment - EPOCH) // timedelta(milliseconds=1)


def iso(ms: int) -> str:
    moment = EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


# --- determinism and layout ---------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files_and_truth(tmp_path):
    small = {**ARGS, "hours": 2, "sessions_per_hour": 4}
    runs = []
    for name in ("first", "second"):
        truth = generate(landing=str(tmp_path / name), truth_path=str(tmp_path / f"{name}.json"), **small)
        files = {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*") if p.is_file()}
        runs.append((files, (tmp_path / f"{name}.json").read_bytes(), truth))
    (files_a, truth_json_a, truth_a), (files_b, truth_json_b, truth_b) = runs
    assert files_a and files_a == files_b
    assert truth_json_a == truth_json_b and truth_a == truth_b

    generate(landing=str(tmp_path / "other"), **{**small, "seed": small["seed"] + 1})
    files_other = {p.relative_to(tmp_path / "other"): p.read_bytes() for p in (tmp_path / "other").rglob("*.gz")}
    assert not set(files_other.values()) & set(files_a.values())  # the seed matters


def test_files_follow_the_landing_contract(landed):
    root, truth, lines = landed
    paths = sorted(p.relative_to(root / "landing").as_posix() for p in (root / "landing").rglob("*") if p.is_file())
    assert paths == sorted(truth.lines_per_file) and len(paths) == truth.files
    hours_seen = set()
    for path in paths:
        day, hour, name_day, name_hour, minute, sequence = FILE_PATH.fullmatch(path).groups()
        assert name_day == day.replace("-", "") and name_hour == hour  # named for its own arrival hour
        assert int(minute) == (int(sequence) - 1) * 60 // ARGS["files_per_hour"]  # flush slot, so names sort
        hours_seen.add(datetime.fromisoformat(f"{day}T{hour}:00"))
    assert hours_seen == {START + timedelta(hours=h) for h in range(HOURS)}  # every arrival hour, none outside
    assert Counter(line.path for line in lines) == Counter(truth.lines_per_file)


def test_truth_adds_up(landed):
    root, truth, lines = landed
    assert truth.lines == len(lines) == sum(truth.lines_per_file.values())
    assert truth.lines == sum(truth.events.values()) + truth.duplicates + sum(truth.quarantined.values())
    assert Truth.from_json((root / "truth.json").read_text()) == truth


# --- faults -------------------------------------------------------------------------------------------


def test_every_reason_code_occurs_and_each_bad_line_breaks_exactly_its_rule(landed):
    _, truth, lines = landed
    judged = Counter(code for code in map(reason, lines) if code is not None)
    assert set(judged) == set(REASON_CODES)
    assert judged == Counter(truth.quarantined)


def test_malformed_lines_never_reuse_a_valid_event_id(landed):
    _, _, lines = landed
    valid_ids = set(valid_events(lines))
    bad_ids = set()
    for line in lines:
        if reason(line) is not None:
            bad_ids.update(re.findall(rb'"eventId":"([0-9a-f-]{36})"', line.raw))
    assert bad_ids and not {i.decode() for i in bad_ids} & valid_ids


def test_valid_events_and_duplicates_match_the_truth(landed):
    _, truth, lines = landed
    by_id = valid_events(lines)
    kinds = Counter(json.loads(copies[0].raw)["kind"] for copies in by_id.values())
    assert kinds == Counter(truth.events)
    assert sum(len(copies) - 1 for copies in by_id.values()) == truth.duplicates > 0


def test_duplicates_are_byte_identical_and_some_arrive_hours_later(landed):
    _, _, lines = landed
    resent = [copies for copies in valid_events(lines).values() if len(copies) > 1]
    assert resent
    assert all(len({line.raw for line in copies}) == 1 for copies in resent)
    assert any(copies[-1].arrival_hour > copies[0].arrival_hour for copies in resent)  # hours later
    assert any(copies[-1].arrival_hour == copies[0].arrival_hour for copies in resent)  # minutes later


def test_late_events_arrive_in_later_hours_and_offline_sessions_before_the_start(landed):
    _, truth, lines = landed
    firsts = [copies[0] for copies in valid_events(lines).values()]
    lateness = []
    for line in firsts:
        event_time = parse_event_time(json.loads(line.raw)["eventTime"]).astimezone(UTC)
        event_hour = event_time.replace(minute=0, second=0, microsecond=0)
        lateness.append(line.arrival_hour - event_hour)
    assert all(delay >= timedelta(0) for delay in lateness)  # nothing arrives before it happened
    late = [delay for delay in lateness if delay > timedelta(0)]
    assert len(late) == truth.late_events > 0
    assert max(late) <= timedelta(days=3, hours=HOURS)

    start_ms = (START.replace(tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)
    before_start = [event for event in map(json.loads, (line.raw for line in firsts)) if event_ms(event) < start_ms]
    assert {event["type"] for event in before_start} >= {"session_start", "page_view"}  # whole sessions, flushed


def test_event_times_mix_every_allowed_format_and_unknown_fields_appear(landed):
    _, _, lines = landed
    events = [json.loads(copies[0].raw) for copies in valid_events(lines).values()]
    times = [event["eventTime"] for event in events]
    assert any(isinstance(t, int) for t in times)
    assert any(isinstance(t, str) and t.endswith("Z") for t in times)
    assert any(isinstance(t, str) and re.search(r"[+-]\d{2}:\d{2}$", t) and not t.endswith("+00:00") for t in times)
    assert any("cxrVersion" in event for event in events)


# --- the truth, recomputed from the files ---------------------------------------------------------------


def distinct_events(lines: list[Line]) -> list[dict]:
    return [json.loads(copies[0].raw) for copies in valid_events(lines).values()]


def summarize(events: list[dict]) -> dict:
    events = sorted(events, key=event_ms)
    types = Counter(event["type"] for event in events)
    ends = [event_ms(event) for event in events if event["type"] == "session_end"]
    csat = [
        e["customMetric"]["value"]
        for e in events
        if e["type"] == "custom_metric" and e["customMetric"]["key"] == "CSAT"
    ]
    first = events[0]
    return {
        "organization_id": first["organizationId"],
        "app_id": first["appId"],
        "branch_id": first["branchId"],
        "deploy_id": first["deployId"],
        "started_at": iso(event_ms(first)),
        "ended_at": iso(ends[-1]) if ends else None,
        "last_event_at": iso(event_ms(events[-1])),
        "is_closed": bool(ends),
        "event_count": len(events),
        "action_runs": types["action_run"],
        "actions_fired": len({e["action"]["id"] for e in events if e["type"] == "action_run"}),
        "action_errors": types["action_error"],
        "runtime_errors": types["runtime_error"],
        "messages_sent": types["message_sent"],
        "messages_received": types["message_received"],
        "device_class": first["userAgent"]["deviceClass"] if first["type"] == "session_start" else None,
        "csat_score": csat[-1] if csat else None,
    }


def test_sessions_in_the_truth_match_the_files(landed):
    _, truth, lines = landed
    by_session = defaultdict(list)
    for event in distinct_events(lines):
        if event["kind"] == "Session":
            by_session[event["sessionId"]].append(event)
    assert by_session.keys() == truth.sessions.keys()
    for session_id, events in by_session.items():
        assert summarize(events) == asdict(truth.sessions[session_id]), session_id
    states = Counter(session.is_closed for session in truth.sessions.values())
    assert states[True] > states[False] > 0  # most sessions end, some stay open
    assert any(s.csat_score is not None for s in truth.sessions.values())
    assert any(s.started_at[:13] != s.last_event_at[:13] for s in truth.sessions.values())  # across an hour


def test_daily_and_per_type_counts_in_the_truth_match_the_files(landed):
    _, truth, lines = landed
    events = distinct_events(lines)
    audit = Counter(e["type"] for e in events if e["kind"] == "Audit")
    platform = defaultdict(lambda: {"events": 0, "errors": 0})
    for e in (e for e in events if e["kind"] == "Platform"):
        daily = platform[f"{e['service']}|{iso(event_ms(e))[:10]}"]
        daily["events"] += 1
        daily["errors"] += e["status"] in ("error", "timeout")
    apps = defaultdict(lambda: {"sessions_started": 0, "sessions_completed": 0})
    for session in truth.sessions.values():
        daily = apps[f"{session.organization_id}|{session.app_id}|{session.started_at[:10]}"]
        daily["sessions_started"] += 1
        daily["sessions_completed"] += session.is_closed

    assert audit == Counter(truth.audit_by_type)
    assert platform == truth.platform_by_service_day
    assert apps == truth.app_daily
    assert sum(1 for e in events if e["type"] == "custom_metric") == truth.custom_metric_values


def test_rejects_arguments_it_cannot_honour(tmp_path):
    with pytest.raises(ValueError):
        generate(landing=str(tmp_path), **{**ARGS, "hours": 0})
    with pytest.raises(ValueError):
        generate(landing=str(tmp_path), **{**ARGS, "late_fraction": 0.5, "malformed_fraction": 0.6})
    assert not any(tmp_path.iterdir())
