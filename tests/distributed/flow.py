"""What the continuous distributed test watches and counts: when each landed event became visible in raw and at
each destination, whether the pipeline is quiet, and per scenario (its organizations, its landing files) what
raw, the quarantine, the ledger, the marts and every destination hold.

Clocks: everything here is this machine's wall clock (``time.time()``): the test's landing, the local receivers'
writes (their ``on_append`` hook, in this process), the S3 stand-in's object files (written by the workers on this
machine) and the first poll that saw a load commit in ``ops.load_commit``.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from eventpipe.devtools.generate.truth import Truth
from tests.distributed import warehouse_rows as rows

ORGANIZATION = re.compile(r"[A-Za-z0-9_-]{1,128}")
STAGES = ("raw", "splunk", "s3", "heap", "ga4")
DESTINATIONS = {"splunk": "local_splunk", "s3": "local_s3", "heap": "local_heap", "ga4": "local_ga4"}
RAW_TABLES = {"Session": "raw.session_event", "Audit": "raw.audit_event", "Platform": "raw.platform_event"}
MARTS = {
    "Session": "marts.fct_session_events",
    "Audit": "marts.fct_audit_events",
    "Platform": "marts.fct_platform_events",
}


class Arrivals:
    """What the local receivers wrote and when (their ``on_append`` hook), parsed into event ids afterwards."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str, float]] = []
        self.lock = threading.Lock()

    def __call__(self, receiver: str, name: str, text: str) -> None:
        at = time.time()
        with self.lock:
            self.writes.append((receiver, name, text, at))

    def received(self) -> dict[str, list[tuple[str, float]]]:
        """Per receiver, (event id, when) of every record accepted, in order: copies appear as often as sent."""
        keys = {
            "splunk": lambda record: record["fields"]["event_id"],
            "heap": lambda record: record["idempotency_key"],
            "ga4": lambda record: record["params"]["event_id"],
        }
        out: dict[str, list[tuple[str, float]]] = {name: [] for name in keys}
        with self.lock:
            writes = list(self.writes)
        for receiver, name, text, at in writes:
            if receiver == "ga4" and not name.startswith("G-"):
                continue  # invalid.ndjson: what GA4 refused (none expected), not an event received
            out[receiver] += [(keys[receiver](json.loads(line)), at) for line in text.splitlines() if line.strip()]
        return out


def s3_received(home: Path) -> list[tuple[str, float]]:
    """(event id, the object file's modification time) for every event in the S3 stand-in's objects."""
    found = []
    for path in sorted((home / "s3").rglob("*.json.gz")):
        if "manifest" in path.name:
            continue
        at = path.stat().st_mtime
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            if line.strip():
                found.append((json.loads(line)["eventId"], at))
    return found


class CommitWatch:
    """Polls ``ops.load_commit`` and records when each load commit was first visible (so its raw rows were)."""

    def __init__(self, endpoint, every: float = 1.0) -> None:
        self.endpoint, self.every = endpoint, every
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="commit-watch", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> CommitWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        conn = rows.connect(self.endpoint)
        try:
            while not self.stop.is_set():
                try:
                    with conn.cursor() as cursor:
                        last = max(self.seen, default=-1)
                        cursor.execute(
                            "select commit_seq from ops.load_commit where commit_seq > %(last)s", {"last": last}
                        )
                        now = time.time()
                        for (seq,) in cursor.fetchall():
                            self.seen.setdefault(int(seq), now)
                except Exception as error:  # before the first load the table may not exist
                    self.errors.append(str(error)[:200])
                self.stop.wait(self.every)
        finally:
            conn.close()


@dataclass
class Landed:
    """One scenario's landing: its files (relative to the landing zone), their truths, when each event first
    landed, and its organizations."""

    files: dict[str, float] = field(default_factory=dict)  # relative path -> landed at
    truths: list[Truth] = field(default_factory=list)  # of the files landed (each counted once)
    resent: list[Truth] = field(default_factory=list)  # of the files landed a second time, once per resend
    first_landed: dict[str, float] = field(default_factory=dict)  # event id -> when its first copy landed
    events: dict[str, dict] = field(default_factory=dict)  # event id -> the event as landed (valid JSON lines)
    organizations: set[str] = field(default_factory=set)

    def add_file(
        self, landing: Path, source: Path, relative: str, truth: Truth | None = None, resend: bool = False
    ) -> float:
        target = landing / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target.with_name(target.name + ".tmp"))
        target.with_name(target.name + ".tmp").rename(target)  # the name appears whole, as a producer writes it
        at = time.time()
        self.files[relative] = at
        if resend:
            self.resent.append(truth)
        elif truth is not None:  # None: counted in a truth of several files, given already
            self.truths.append(truth)
        for line in gzip.decompress(source.read_bytes()).splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("eventId"), str):
                self.first_landed.setdefault(event["eventId"], at)
                self.events.setdefault(event["eventId"], event)
                if ORGANIZATION.fullmatch(str(event.get("organizationId"))):  # a malformed line's may not be
                    self.organizations.add(event["organizationId"])
        return at

    def expected(self) -> dict[str, int]:
        """Lines landed = loaded + duplicates + quarantined, from the generator's own counts: a resent file's valid
        events are all duplicates the second time."""
        resent = self.resent
        return {
            "files": len(self.files),
            "lines": sum(t.lines for t in self.truths + resent),
            "loaded": sum(sum(t.events.values()) for t in self.truths),
            "duplicates": sum(t.duplicates for t in self.truths)
            + sum(sum(t.events.values()) + t.duplicates for t in resent),
            "quarantined": sum(sum(t.quarantined.values()) for t in self.truths + resent),
        }


def _in_list(values) -> str:
    assert all(ORGANIZATION.fullmatch(value) for value in values), values  # safe in a literal
    return ", ".join(f"'{value}'" for value in sorted(values))


@dataclass
class Holdings:
    """What the warehouse and the destinations hold for one scenario once the pipeline is quiet."""

    raw: dict[str, dict[str, int]]  # kind -> event id -> rows (1 each when nothing is doubled)
    raw_commit: dict[str, int]  # event id -> its load commit
    raw_type: dict[str, str]  # event id -> event_type
    quarantined_lines: int
    ledger: dict[str, int]  # files, lines, loaded, duplicates, quarantined (ops.loaded_file)
    files_quarantined: int
    marts: dict[str, Counter]  # kind -> event id -> rows
    sessions_in_marts: int
    sessions_in_raw: int
    dead_letters: dict[str, set[str]]  # destination stage -> event ids dead-lettered
    received: dict[str, Counter]  # destination stage -> event id -> copies received


def holdings(endpoint, home: Path, landed: Landed, arrivals: Arrivals) -> Holdings:
    orgs = _in_list(landed.organizations)
    conn = rows.connect(endpoint)
    try:
        with conn.cursor() as cursor:
            raw, raw_commit, raw_type = {}, {}, {}
            for kind, table in RAW_TABLES.items():
                cursor.execute(
                    f"select event_id, _commit_seq, event_type from {table} where organization_id in ({orgs})"
                )
                found = cursor.fetchall()
                raw[kind] = Counter(row[0] for row in found)
                raw_commit.update({row[0]: int(row[1]) for row in found})
                raw_type.update({row[0]: row[2] for row in found})
            cursor.execute(
                "select count(distinct organization_id || '/' || session_id) from raw.session_event"
                f" where organization_id in ({orgs})"
            )
            sessions_in_raw = cursor.fetchone()[0]
            cursor.execute("select source_file, lines, loaded, duplicates, quarantined from ops.loaded_file")
            ledgered = [row for row in cursor.fetchall() if _relative(row[0], landed.files)]
            ledger = {
                "files": len(ledgered),
                "lines": sum(row[1] for row in ledgered),
                "loaded": sum(row[2] for row in ledgered),
                "duplicates": sum(row[3] for row in ledgered),
                "quarantined": sum(row[4] for row in ledgered),
            }
            cursor.execute("select source_file from ops.quarantined_file")
            files_quarantined = sum(1 for (source,) in cursor.fetchall() if _relative(source, landed.files))
            cursor.execute("select source_file from raw.quarantined_event")
            quarantined_lines = sum(1 for (source,) in cursor.fetchall() if _relative(source, landed.files))
            marts = {}
            for kind, table in MARTS.items():
                cursor.execute(f"select event_id from {table} where organization_id in ({orgs})")
                marts[kind] = Counter(row[0] for row in cursor.fetchall())
            cursor.execute(f"select count(*) from marts.fct_sessions where organization_id in ({orgs})")
            sessions_in_marts = cursor.fetchone()[0]
            cursor.execute(
                f"select destination, event_id from ops.delivery_dead_letter where organization_id in ({orgs})"
            )
            by_name = {name: stage for stage, name in DESTINATIONS.items()}
            dead: dict[str, set[str]] = {stage: set() for stage in DESTINATIONS}
            for destination, event_id in cursor.fetchall():
                dead[by_name.get(destination, destination)].add(event_id)
    finally:
        conn.close()
    ids = set(landed.events)
    received = {stage: Counter(i for i, _ in pairs if i in ids) for stage, pairs in arrivals.received().items()}
    received["s3"] = Counter(i for i, _ in s3_received(home) if i in ids)
    return Holdings(raw, raw_commit, raw_type, quarantined_lines, ledger, files_quarantined, marts,
                    sessions_in_marts, sessions_in_raw, dead, received)  # fmt: skip


def _relative(url: str, files: dict[str, float]) -> bool:
    return any(url.endswith("/" + relative) for relative in files)


def expected_at(held: Holdings, stage: str) -> set[str]:
    """The events a destination should hold once each: S3 App Events and Audit logs, Splunk App Events, Heap and
    GA4 the analytics events; less what it dead-lettered (too old for GA4's 72 hours)."""
    session, audit = set(held.raw["Session"]), set(held.raw["Audit"])
    wanted = {
        "s3": session | audit,
        "splunk": session,
        "heap": {i for i in session if held.raw_type[i] == "analytics_event"},
        "ga4": {i for i in session if held.raw_type[i] == "analytics_event"},
    }[stage]
    return wanted - held.dead_letters[stage]


def count_problems(held: Holdings, landed: Landed) -> list[str]:
    """Everything that is not counted exactly: an empty list when raw, the quarantine, the ledger, the marts and
    every destination hold each event as often as they should (once)."""
    problems = []
    expected = landed.expected()
    raw_rows = sum(sum(counter.values()) for counter in held.raw.values())
    raw_ids = set().union(*held.raw.values())
    if raw_rows != len(raw_ids):
        problems.append(f"raw: {raw_rows} rows for {len(raw_ids)} event ids (doubled)")
    if len(raw_ids) != expected["loaded"]:
        problems.append(f"raw: {len(raw_ids)} events, landed {expected['loaded']} distinct valid events")
    if not raw_ids <= set(landed.events):
        problems.append(f"raw: {len(raw_ids - set(landed.events))} events that were never landed")
    if held.ledger != expected:
        problems.append(f"ops.loaded_file {held.ledger} != landed {expected}")
    if held.files_quarantined:
        problems.append(f"{held.files_quarantined} landing files quarantined whole")
    if held.quarantined_lines != expected["quarantined"]:
        problems.append(f"raw.quarantined_event: {held.quarantined_lines} lines, landed {expected['quarantined']}")
    for kind, counter in held.marts.items():
        if counter != held.raw[kind]:
            problems.append(
                f"{MARTS[kind]}: {sum(counter.values())} rows / {len(counter)} ids vs raw {len(held.raw[kind])}"
            )
    if held.sessions_in_marts != held.sessions_in_raw:
        problems.append(f"marts.fct_sessions: {held.sessions_in_marts} sessions, raw {held.sessions_in_raw}")
    for stage in DESTINATIONS:
        wanted, got = expected_at(held, stage), held.received[stage]
        doubled = {i: n for i, n in got.items() if n > 1}
        missing, extra = wanted - set(got), set(got) - wanted
        if doubled or missing or extra:
            problems.append(
                f"{stage}: {len(got)} distinct of {len(wanted)} expected; {len(doubled)} doubled (e.g."
                f" {list(doubled.items())[:3]}), {len(missing)} missing, {len(extra)} unexpected"
                f" ({len(held.dead_letters[stage])} dead-lettered)"
            )
        if not wanted:
            problems.append(f"{stage}: nothing expected, so nothing proven")
    return problems


def delays(held: Holdings, landed: Landed, commits: dict[int, float], arrivals: Arrivals, home: Path) -> dict:
    """Per stage, the seconds from an event's first landing to its first visibility there."""
    out: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for event_id, seq in held.raw_commit.items():
        if seq in commits:
            out["raw"].append(commits[seq] - landed.first_landed[event_id])
    pairs = arrivals.received() | {"s3": s3_received(home)}
    for stage in DESTINATIONS:
        first: dict[str, float] = {}
        for event_id, at in pairs[stage]:
            if event_id in landed.first_landed:
                first.setdefault(event_id, at)
        out[stage] = [at - landed.first_landed[event_id] for event_id, at in first.items()]
    return out


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))], ordered[-1]


def stamp_at(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M:%S")


def _reader(conn):
    """The production lag queries over the test's own emulator connection, without the DDL a
    ``SnowflakeWarehouse`` runs on connecting."""
    from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

    reader = object.__new__(SnowflakeWarehouse)
    reader.conn = conn
    return reader


def waiting(endpoint, landing: Path, hours: list[datetime]) -> dict[str, int]:
    """What the pipeline has not taken yet: landed files of ``hours`` the ledger lacks, load commits each
    destination has not received whole, load commits above the last dbt build's bound (as ``pipeline_lag``)."""
    from eventpipe.deliver.config import load_destinations
    from eventpipe.ingest import extract
    from eventpipe.ingest.load import plan_intervals
    from eventpipe.orchestrate import lag

    conn = rows.connect(endpoint)
    try:
        warehouse = _reader(conn)
        listed = {hour: extract.partition_files(str(landing), hour) for hour in hours}
        plans = plan_intervals(warehouse, {hour: files for hour, files in listed.items() if files})
        out = {"files": sum(len(plan.new_files) for plan in plans)}
        out |= {entry.stage: entry.waiting for entry in lag.destination_lags(warehouse, load_destinations())}
        bound = 0
        if warehouse.fetchall("table_exists", {"table_schema": "ops", "table_name": "dbt_build_bound"})[0][0]:
            bound = int(warehouse.fetchall("dbt_build_bound")[0][0])
        out["raw -> marts"] = int(warehouse.fetchall("lag_commits_above", {"bound": bound})[0][0] or 0)
        return out
    finally:
        conn.close()
