"""The dedup-against-history property's parts (tests/ingest/test_dedup_history_property.py on DuckDB,
tests/ingest/test_dedup_history_snowflake.py on the emulator): the hypothesis strategy of load sequences, the landing
of each load, the model of what the warehouse must hold after it, and the check of the whole warehouse against it."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck
from hypothesis import strategies as st

from eventpipe import warehouse
from eventpipe.ingest import load, reconcile

HOURS = (  # arrival hours; loads visit them in any order, some more than once
    datetime(2026, 11, 27, 10),
    datetime(2026, 11, 27, 11),
    datetime(2026, 11, 28, 9),
    datetime(2026, 12, 1, 23),
)
DAY0 = datetime(2026, 11, 27)
# Event days relative to DAY0: near the hours (one island of windows), and weeks to a year back (islands of their
# own). Every copy must pass the validator in every hour: not before the last hour - 366 days (2025-11-30T23:00),
# not after the first hour's end + 24 h (2026-11-28T11:00, so day +1 stops at 10:59:59.999999).
DAY_OFFSETS = (1, 0, 0, -1, -2, -3, -6, -10, -13, -17, -45, -200, -361)  # gaps of 3 days join, of 4 split
LAST_MS_OF_DAY = 86_400_000 - 1
EVENT_IDS = 24  # a small universe: copies overlap within files, across files, hours, loads and kinds
ORGS = ("acme", "globex", "initech")
KINDS = ("Session", "Audit", "Platform")
TABLE = {"Session": "session_event", "Audit": "audit_event", "Platform": "platform_event"}
# Epoch forms when the instant is whole milliseconds (else the Z form); "nano": nine digits of fraction
TIME_FORMATS = ("z", "z_seconds", "nano", "space", "offset", "epoch", "epoch_string", "epoch_float")
OFFSETS_MINUTES = (120, -300, 330, 840, -720, 0)
INVALID = (
    "invalid_json",
    "missing_required_field",
    "unknown_kind",
    "invalid_event_time",
    "event_time_out_of_range",
    "invalid_organization_id",
    "not_an_object",
    "empty_line",
)


@dataclass
class Line:
    raw: bytes
    event_id: str  # the universe id the line carries (an invalid line's too)
    kind: str | None = None  # a valid copy's kind
    reason: str | None = None  # an invalid line's expected quarantine reason


@dataclass
class File:
    name: str
    lines: list[Line]
    gzipped: bool


@dataclass
class Load:
    hour: datetime
    files: list[File]


@dataclass
class Scenario:
    instants: dict[str, datetime]  # event id -> its eventTime (UTC, whole milliseconds), the same in every copy
    orgs: dict[str, str]
    loads: list[Load]
    group_bytes: int  # EVENTPIPE_LOAD_GROUP_BYTES: small values make several commits a load


def render_time(instant: datetime, form: str, offset_minutes: int, offset_style: str) -> str | int | float:
    """``instant`` (naive UTC) as an eventTime in ``form``; the same instant whatever the form."""
    micros = (instant - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    if form.startswith("epoch") and micros % 1000 == 0:
        ms = micros // 1000
        return {"epoch": ms, "epoch_string": str(ms), "epoch_float": float(ms)}[form]
    fraction = f".{instant.microsecond:06d}" if micros % 1000 else f".{instant.microsecond // 1000:03d}"
    if form == "nano":
        fraction = f".{instant.microsecond:06d}000"
    elif form == "z_seconds" and instant.microsecond == 0:
        fraction = ""
    if form == "offset":
        local, sign = instant + timedelta(minutes=offset_minutes), "+" if offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        separator = ":" if offset_style == "hours" and minutes else offset_style
        offset = f"{hours:02d}" if offset_style == "hours" and not minutes else f"{hours:02d}{separator}{minutes:02d}"
        return f"{local:%Y-%m-%dT%H:%M:%S}{fraction}{sign}{offset}"
    separator = " " if form == "space" else "T"
    return f"{instant:%Y-%m-%d}{separator}{instant:%H:%M:%S}{fraction}Z"


@st.composite
def instant(draw) -> datetime:
    offset = draw(st.sampled_from(DAY_OFFSETS))
    last = 11 * 3_600_000 - 1 if offset == 1 else LAST_MS_OF_DAY
    ms = draw(st.one_of(st.sampled_from((0, last)), st.integers(0, last)))  # midnights and last milliseconds too
    micros = draw(st.sampled_from((0, 0, 0, 1, 999, 500)))  # some times finer than a millisecond
    return DAY0 + timedelta(days=offset, milliseconds=ms, microseconds=micros)


@st.composite
def landing_line(draw, scenario: Scenario) -> Line:
    event_id = f"ev-{draw(st.integers(0, len(scenario.instants) - 1))}"
    kind = draw(st.sampled_from(KINDS))
    event = {
        "eventId": event_id,
        "organizationId": scenario.orgs[event_id],
        "eventTime": render_time(
            scenario.instants[event_id],
            draw(st.sampled_from(TIME_FORMATS)),
            draw(st.sampled_from(OFFSETS_MINUTES)),
            draw(st.sampled_from((":", "", "hours"))),  # +02:00, +0200, +02
        ),
        "kind": kind,
        "type": {"Session": "page_view", "Audit": "user_login", "Platform": "service_error"}[kind],
    }
    if kind == "Session":
        event |= {"appId": "app", "sessionId": draw(st.sampled_from(("s-1", "s-2")))}
    if draw(st.booleans()):
        event["copy"] = draw(st.integers(0, 999))  # an unknown extra field: kept, never an error
    reason = draw(st.sampled_from((*[None] * 24, *INVALID)))  # a quarter of the lines invalid
    if reason is None:
        return Line(json.dumps(event).encode(), event_id, kind=kind)
    if reason == "invalid_json":
        raw = json.dumps(event).encode()
        return Line(raw[: draw(st.integers(1, len(raw) - 1))], event_id, reason=reason)  # starts with "{"
    if reason == "not_an_object":
        return Line(json.dumps([event]).encode(), event_id, reason=reason)
    if reason == "empty_line":
        return Line(draw(st.sampled_from((b"", b"  ", b"\t"))), event_id, reason=reason)
    if reason == "missing_required_field":
        del event[draw(st.sampled_from(("eventTime", "type", "organizationId")))]
    elif reason == "unknown_kind":
        event["kind"] = draw(st.sampled_from(("session", "Billing")))
    elif reason == "invalid_event_time":
        event["eventTime"] = draw(st.sampled_from(("yesterday", "2026-11-27T10:05:00", -5)))
    elif reason == "event_time_out_of_range":
        event["eventTime"] = draw(st.sampled_from(("2020-01-01T00:00:00Z", "2027-06-01T00:00:00Z")))
    elif reason == "invalid_organization_id":
        event["organizationId"] = draw(st.sampled_from(("../acme", "org 1", "a" * 129)))
    return Line(json.dumps(event).encode(), event_id, reason=reason)


@st.composite
def scenarios(draw, min_loads: int = 2, max_loads: int = 5, event_ids: int = EVENT_IDS) -> Scenario:
    """Loads of 1-3 files of up to 12 lines each, over a universe of ``event_ids`` ids."""
    ids = [f"ev-{number}" for number in range(event_ids)]
    scenario = Scenario(
        instants={event_id: draw(instant()) for event_id in ids},
        orgs={event_id: draw(st.sampled_from(ORGS)) for event_id in ids},
        loads=[],
        group_bytes=draw(st.sampled_from((1, 300, 1200, 1 << 20))),
    )
    for number in range(draw(st.integers(min_loads, max_loads))):
        files = []
        for index in range(draw(st.integers(1, 3))):
            prefix = draw(st.sampled_from("amz"))  # a later load's file may sort before an earlier one's
            gzipped = draw(st.booleans())
            name = f"{prefix}-{number}-{index}" + (".json.gz" if gzipped else ".ndjson")
            files.append(File(name, draw(st.lists(landing_line(scenario), max_size=12)), gzipped))
        scenario.loads.append(Load(draw(st.sampled_from(HOURS)), files))
    return scenario


def partition(hour: datetime) -> str:
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}"


def url(landing: str, load_: Load, file: File) -> str:
    return f"{landing}/{partition(load_.hour)}/{file.name}"


def land(landing: str, load_: Load) -> None:
    for file in load_.files:
        path = url(landing, load_, file)
        data = b"".join(line.raw + b"\n" for line in file.lines)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(gzip.compress(data) if file.gzipped else data)


@dataclass
class Model:
    """What the warehouse must hold: the contract's dedup rule applied by hand, load after load."""

    first: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # id -> (file, line, table)
    first_load: dict[str, int] = field(default_factory=dict)
    ledger: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # lines, loaded, dup, quarantined
    quarantine: dict[tuple[str, int], str] = field(default_factory=dict)
    hours: set[datetime] = field(default_factory=set)
    load_files: list[list[str]] = field(default_factory=list)  # each load's files, in URL order
    stats: Counter = field(default_factory=Counter)

    def apply(self, landing: str, load_: Load) -> tuple[int, int, int, int]:
        number = len(self.load_files)
        self.hours.add(load_.hour)
        files = sorted(load_.files, key=lambda file: url(landing, load_, file))
        self.load_files.append([url(landing, load_, file) for file in files])
        totals = [0, 0, 0, 0]
        for file in files:
            source = url(landing, load_, file)
            counts = [len(file.lines), 0, 0, 0]
            for line_number, line in enumerate(file.lines, start=1):
                if line.reason is not None:
                    self.quarantine[(source, line_number)] = line.reason
                    counts[3] += 1
                    self.stats[f"invalid:{line.reason}"] += 1
                elif line.event_id in self.first:
                    counts[2] += 1
                    earlier = self.first_load[line.event_id]
                    where = "across history" if earlier < number else "within a load"
                    self.stats[f"duplicates {where}"] += 1
                    self.stats[f"cross-kind duplicates {where}"] += self.first[line.event_id][2] != TABLE[line.kind]
                else:
                    self.first[line.event_id] = (source, line_number, TABLE[line.kind])
                    self.first_load[line.event_id] = number
                    counts[1] += 1
            self.ledger[source] = tuple(counts)
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
        self.stats["loads"] += 1
        self.stats["files"] += len(files)
        self.stats["lines"] += totals[0]
        return tuple(totals)


def rows(target, sql: str) -> list[tuple]:
    """``sql`` (portable) on either engine's warehouse."""
    if isinstance(target, warehouse.DuckDBWarehouse):
        return target.con.execute(sql).fetchall()
    with target.conn.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


KEPT_SQL = " union all ".join(
    f"select '{table}', event_id, _source_file, _line_number, _commit_seq, organization_id, event_time from raw.{table}"
    for table in TABLE.values()
)


def outcome(target) -> dict:
    """Everything the property looks at, as plain values: what two engines given the same input must agree on."""
    return {
        "kept": sorted(rows(target, KEPT_SQL)),
        "ledger": sorted(
            rows(target, "select source_file, lines, loaded, duplicates, quarantined, commit_seq from ops.loaded_file")
        ),
        "quarantine": sorted(
            rows(target, "select source_file, line_number, reason, commit_seq from raw.quarantined_event")
        ),
        "commits": rows(
            target,
            "select commit_seq, commit_kind, files, lines, loaded, duplicates, quarantined"
            " from ops.load_commit order by commit_seq",
        ),
        "sequence": rows(target, "select last_value from ops.load_sequence where sequence_name = 'load_commit'"),
    }


def check(target, landing: str, scenario: Scenario, model: Model, results: list[load.LoadResult]) -> dict:
    """The property after the latest load (``results[-1]``), on the whole warehouse; returns the outcome."""
    got = outcome(target)
    kept = Counter(row[1] for row in got["kept"])
    assert [event_id for event_id, copies in kept.items() if copies > 1] == []  # exactly once across the tables
    assert {row[1]: (row[2], row[3], row[0]) for row in got["kept"]} == model.first  # the first copy, in its table
    for table, event_id, _file, _line, _seq, org, event_time in got["kept"]:
        assert (org, event_time) == (scenario.orgs[event_id], scenario.instants[event_id]), (table, event_id)

    ledger = {row[0]: row[1:5] for row in got["ledger"]}
    assert ledger == model.ledger  # later copies are duplicates in their file's row
    assert all(lines == loaded + duplicates + quarantined for lines, loaded, duplicates, quarantined in ledger.values())
    assert {(row[0], row[1]): row[2] for row in got["quarantine"]} == model.quarantine

    # Commits: dense 1..n in commit order, and every row points at the commit that loaded it.
    n = len(got["commits"])
    assert [row[0] for row in got["commits"]] == list(range(1, n + 1))
    assert [seq for result in results for seq in result.commits] == list(range(1, n + 1))
    assert got["sequence"] == [(n,)]
    file_commit = {row[0]: row[5] for row in got["ledger"]}
    for files, result in zip(model.load_files, results, strict=True):
        seqs = [file_commit[source] for source in files]
        assert seqs == sorted(seqs) and set(seqs) == set(result.commits), (files, result.commits)
    assert all(row[4] == file_commit[row[2]] for row in got["kept"])
    assert all(row[3] == file_commit[row[0]] for row in got["quarantine"])
    for seq, kind, files, lines, loaded, duplicates, quarantined in got["commits"]:
        mine = [counts for source, counts in ledger.items() if file_commit[source] == seq]
        sums = tuple(sum(column) for column in zip(*mine, strict=True)) if mine else (0, 0, 0, 0)
        assert (kind, files, (lines, loaded, duplicates, quarantined)) == ("load", len(mine), sums), seq
        assert loaded == sum(row[4] == seq for row in got["kept"])
        assert quarantined == sum(row[3] == seq for row in got["quarantine"])

    for hour in sorted(model.hours):
        checked = reconcile.reconcile_interval(target, landing, hour)
        assert checked.balanced, checked.problems
    return got


def run_scenario(targets: list, landing: str, scenario: Scenario, monkeypatch) -> list[tuple[list, list]]:
    """Land ``scenario`` load after load; after each landing, load it into every one of ``targets`` (each with its own
    ledger of the same landing zone) and check the property there. Returns, per target, the outcome after each load
    and each load's figures."""
    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", str(scenario.group_bytes))
    model, landed = Model(), Counter()
    results: list[list[load.LoadResult]] = [[] for _ in targets]
    seen: list[tuple[list, list]] = [([], []) for _ in targets]
    for number, step in enumerate(scenario.loads):
        land(landing, step)
        expected = model.apply(landing, step)
        earlier, landed[step.hour] = landed[step.hour], landed[step.hour] + len(step.files)
        for target, mine, (outcomes, figures) in zip(targets, results, seen, strict=True):
            result = load.load_interval(target, landing, step.hour, run_id=f"load-{number}")
            mine.append(result)
            assert (result.lines, result.loaded, result.duplicates, result.quarantined) == expected
            assert (result.files_loaded, result.files_skipped, result.files_quarantined) == (
                len(step.files),
                earlier,
                0,
            )
            outcomes.append(check(target, landing, scenario, model, mine))
            figures.append((expected, result.commits, result.loaded_by_kind, result.quarantined_by_reason))
    TOTALS.update(model.stats)
    TOTALS["commits"] += len(seen[0][0][-1]["commits"])
    return seen


TOTALS: Counter = Counter()
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,  # every run the same inputs
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def summary(name: str, seconds: float) -> str:
    return (
        f"\n{name}: {TOTALS['examples']} examples, {TOTALS['loads']} loads, {TOTALS['commits']} commits,"
        f" {TOTALS['files']} files, {TOTALS['lines']} lines, {TOTALS['duplicates across history']} duplicates across"
        f" history ({TOTALS['cross-kind duplicates across history']} as another kind),"
        f" {TOTALS['duplicates within a load']} within a load in {seconds:.1f}s; {dict(sorted(TOTALS.items()))}"
    )
