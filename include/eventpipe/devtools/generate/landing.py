"""``eventpipe generate``: realistic, deterministic event logs in the landing zone, and their ground truth.

Files are gzip NDJSON under ``<landing>/dt=YYYY-MM-DD/hour=HH/`` (the ARRIVAL hour, UTC), several per
hour, named like a stream flushed every few minutes so that names sort in arrival order. The same
arguments always give byte-identical files: one ``random.Random(seed)`` drives everything, gzip headers
carry no timestamp, and nothing reads the clock.

Events are produced hour by hour of event time. Each valid event is routed to the arrival hour it lands
in (the same hour, or later when it is late or re-sent) and an arrival hour is written as soon as no
later event can still land in it, so memory holds a few hours of lines, not the whole range.

The ground truth (:class:`Truth`) is counted from the generator's own model as it goes, never by
reading the files back, so it can check the pipeline independently.
"""

from __future__ import annotations

import gzip
import math
import random
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import groupby

from eventpipe.devtools.generate.catalog import Org, build_catalog
from eventpipe.devtools.generate.events import Event, EventFactory, TimedEvent, encode, iso_utc
from eventpipe.devtools.generate.faults import REASON_CODES, malformed_line
from eventpipe.devtools.generate.truth import Truth, summarize_session
from eventpipe.storage import join, write_bytes

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Audit and Platform volume, per Session event of the same org and hour.
AUDIT_PER_SESSION_EVENT = 0.2
PLATFORM_PER_SESSION_EVENT = 0.3
ON_TIME_DELAY_MS = 90_000  # how long an on-time event takes to reach the landing zone, at most
OFFLINE_SESSION_EVERY = 50  # one offline device flush per this many late sessions' worth of traffic
OFFLINE_WINDOW_HOURS = 72  # offline flushes arrive early in the range, so their events stay in range
GZIP_LEVEL = 3  # twice as fast as the default 6 for about 20% larger files: the generator is CPU-bound
WRITER_THREADS = 2
WRITES_IN_FLIGHT = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def generate(
    landing: str,
    start: datetime,
    hours: int,
    orgs: int,
    sessions_per_hour: int,
    seed: int,
    late_fraction: float = 0.05,
    duplicate_fraction: float = 0.02,
    malformed_fraction: float = 0.01,
    files_per_hour: int = 4,
    truth_path: str | None = None,
) -> Truth:
    """Write ``hours`` arrival hours of event logs from ``start`` (floored to the hour; naive means UTC).

    ``sessions_per_hour`` sessions start per org per hour; the fractions are of all lines written.
    """
    _check_arguments(
        hours, orgs, sessions_per_hour, files_per_hour, (late_fraction, duplicate_fraction, malformed_fraction)
    )
    first_hour = _hour_of(start)
    rng = random.Random(seed)
    catalog = build_catalog(rng, orgs)
    truth = Truth()
    offline = _schedule_offline_sessions(rng, first_hour, hours, orgs, sessions_per_hour, late_fraction)
    with LandingZone(landing, files_per_hour, truth) as zone:
        stream = EventStream(rng, zone, truth, first_hour, hours, late_fraction, duplicate_fraction, malformed_fraction)
        for hour in range(first_hour, first_hour + hours):
            for org_index, start_ms in offline.get(hour, ()):
                stream.offline_session(catalog[org_index], start_ms, hour)
            for org in catalog:
                _org_hour(rng, stream, org, hour, sessions_per_hour)
            zone.flush(hour)  # nothing generated from here on can arrive in this hour
        assert not zone.pending, "every event was routed to an arrival hour inside the range"
    if truth_path:
        write_bytes(truth_path, truth.to_json().encode())
    return truth


def _check_arguments(
    hours: int, orgs: int, sessions_per_hour: int, files_per_hour: int, fractions: tuple[float, ...]
) -> None:
    if hours < 1 or orgs < 1 or files_per_hour < 1 or sessions_per_hour < 0:
        raise ValueError("hours, orgs and files_per_hour must be at least 1; sessions_per_hour at least 0")
    if any(not 0 <= fraction < 1 for fraction in fractions) or sum(fractions) >= 1:
        raise ValueError(f"late, duplicate and malformed fractions must be in [0, 1) and sum below 1: {fractions}")


def _hour_of(moment: datetime) -> int:
    """Hours since the epoch of the hour containing ``moment``; a naive datetime is taken as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(hours=1)


def _org_hour(rng: random.Random, stream: EventStream, org: Org, hour: int, sessions_per_hour: int) -> None:
    """One org's sessions starting in ``hour``, then Audit and Platform traffic in proportion to them."""
    hour_ms = hour * HOUR_MS
    session_events = sum(stream.session(org, hour_ms + rng.randrange(HOUR_MS)) for _ in range(sessions_per_hour))
    for _ in range(_stochastic_round(rng, AUDIT_PER_SESSION_EVENT * session_events)):
        event_ms = hour_ms + rng.randrange(HOUR_MS)
        stream.emit(event_ms, stream.factory.audit(org, event_ms))
    for _ in range(_stochastic_round(rng, PLATFORM_PER_SESSION_EVENT * session_events)):
        event_ms = hour_ms + rng.randrange(HOUR_MS)
        stream.emit(event_ms, stream.factory.platform(org, event_ms))


def _stochastic_round(rng: random.Random, expected: float) -> int:
    # Rounds up with probability equal to the fraction, so small orgs still get their share on average.
    whole = int(expected)
    return whole + (rng.random() < expected - whole)


def _schedule_offline_sessions(
    rng: random.Random, first_hour: int, hours: int, orgs: int, sessions_per_hour: int, late_fraction: float
) -> dict[int, list[tuple[int, int]]]:
    """Arrival hour -> [(org index, session start ms)] of whole sessions from devices that were offline.

    Their events are dated 1-3 days before the first hour and all arrive together, in the first
    three days of the range (always well inside the validator's 366-day window).
    """
    total_sessions = hours * orgs * sessions_per_hour
    if late_fraction <= 0 or total_sessions == 0:
        return {}
    schedule: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for _ in range(math.ceil(late_fraction * total_sessions / OFFLINE_SESSION_EVERY)):
        arrival_hour = first_hour + rng.randrange(min(hours, OFFLINE_WINDOW_HOURS))
        start_ms = first_hour * HOUR_MS - DAY_MS - HOUR_MS - rng.randrange(2 * DAY_MS - HOUR_MS)
        schedule[arrival_hour].append((rng.randrange(orgs), start_ms))
    return schedule


class EventStream:
    """The producer side: decides when each event arrives, re-sends some, garbles some, counts all."""

    def __init__(
        self,
        rng: random.Random,
        zone: LandingZone,
        truth: Truth,
        first_hour: int,
        hours: int,
        late_fraction: float,
        duplicate_fraction: float,
        malformed_fraction: float,
    ) -> None:
        self.rng = rng
        self.factory = EventFactory(rng)
        self.zone = zone
        self.truth = truth
        self.last_hour = first_hour + hours - 1
        self.end_ms = (self.last_hour + 1) * HOUR_MS
        # The fractions are of all lines; per valid event that is fraction / (share of valid lines).
        valid_share = 1 - duplicate_fraction - malformed_fraction
        self.late_chance = late_fraction / valid_share
        self.duplicate_chance = duplicate_fraction / valid_share
        self.malformed_chance = malformed_fraction / valid_share
        self.malformed_written = 0
        self.day_names: dict[int, str] = {}

    def session(self, org: Org, start_ms: int) -> int:
        """Emit one live session (only the events that happen before the range ends); return how many."""
        events = [timed for timed in self.factory.session(org, start_ms) if timed[0] < self.end_ms]
        for event_ms, event in events:
            self.emit(event_ms, event)
        self.record_session(org, events)
        return len(events)

    def offline_session(self, org: Org, start_ms: int, arrival_hour: int) -> None:
        """A device that was offline flushes a whole old session at once, in ``arrival_hour``."""
        events = self.factory.session(org, start_ms)
        flushed_at = arrival_hour * HOUR_MS + self.rng.randrange(HOUR_MS - len(events))
        for offset, (event_ms, event) in enumerate(events):
            self.emit(event_ms, event, arrival_ms=flushed_at + offset)
        self.record_session(org, events)

    def emit(self, event_ms: int, event: Event, arrival_ms: int | None = None) -> None:
        """Write a valid event to the landing zone; maybe re-send it later; maybe write a garbled sibling."""
        rng = self.rng
        if arrival_ms is None:
            arrival_ms = self.arrival_ms(event_ms)
        line = encode(event)
        self.zone.add(arrival_ms, line)
        if rng.random() < self.duplicate_chance:
            self.zone.add(self.resent_ms(arrival_ms), line)
            self.truth.duplicates += 1
        if rng.random() < self.malformed_chance:
            self.emit_malformed(event, event_ms, arrival_ms)
        self.count(event_ms, event, arrival_ms)

    def arrival_ms(self, event_ms: int) -> int:
        event_hour = event_ms // HOUR_MS
        if self.rng.random() < self.late_chance:
            arrival_hour = min(event_hour + self.late_hours(), self.last_hour)  # clamped: nothing beyond the range
            if arrival_hour > event_hour:
                return arrival_hour * HOUR_MS + self.rng.randrange(HOUR_MS)
        # On time: a little later, but within the event's own hour.
        return min(event_ms + int(self.rng.random() * ON_TIME_DELAY_MS), (event_hour + 1) * HOUR_MS - 1)

    def late_hours(self) -> int:
        """Mostly an hour or two late, some up to a day, a few up to three days."""
        draw = self.rng.random()
        if draw < 0.6:
            return 1 + self.rng.randrange(2)
        if draw < 0.9:
            return 3 + self.rng.randrange(21)
        return 24 + self.rng.randrange(49)

    def resent_ms(self, arrival_ms: int) -> int:
        """At-least-once delivery: a copy minutes later (same or next file) or hours later."""
        if self.rng.random() < 0.5:
            delay = 1 + self.rng.randrange(15 * 60_000)
        else:
            delay = HOUR_MS + self.rng.randrange(11 * HOUR_MS)
        return min(arrival_ms + delay, self.end_ms - 1)  # never before the original, never past the range

    def emit_malformed(self, event: Event, event_ms: int, arrival_ms: int) -> None:
        # Round-robin over the codes so that every code occurs as soon as there are enough bad lines.
        code = REASON_CODES[self.malformed_written % len(REASON_CODES)]
        self.malformed_written += 1
        sibling = dict(event)
        sibling["eventId"] = self.factory.new_id()  # never an id that a valid event has
        hour_ms = arrival_ms - arrival_ms % HOUR_MS
        line = malformed_line(code, self.rng, sibling, event_ms, hour_ms)
        self.zone.add(min(arrival_ms + self.rng.randrange(60_000), hour_ms + HOUR_MS - 1), line)
        self.truth.quarantined[code] = self.truth.quarantined.get(code, 0) + 1

    def count(self, event_ms: int, event: Event, arrival_ms: int) -> None:
        truth = self.truth
        kind = event["kind"]
        truth.events[kind] += 1
        if arrival_ms // HOUR_MS > event_ms // HOUR_MS:
            truth.late_events += 1
        if kind == "Session":
            truth.custom_metric_values += event["type"] == "custom_metric"
        elif kind == "Audit":
            truth.audit_by_type[event["type"]] = truth.audit_by_type.get(event["type"], 0) + 1
        else:
            key = f"{event['service']}|{self.day_name(event_ms)}"
            daily = truth.platform_by_service_day.setdefault(key, {"events": 0, "errors": 0})
            daily["events"] += 1
            daily["errors"] += event["status"] in ("error", "timeout")

    def day_name(self, event_ms: int) -> str:
        day = event_ms // DAY_MS
        if day not in self.day_names:
            self.day_names[day] = iso_utc(day * DAY_MS)[:10]
        return self.day_names[day]

    def record_session(self, org: Org, events: list[TimedEvent]) -> None:
        if not events:  # started after the range ended
            return
        summary = summarize_session(org, events)
        self.truth.sessions[events[0][1]["sessionId"]] = summary
        key = f"{org.org_id}|{summary.app_id}|{summary.started_at[:10]}"
        daily = self.truth.app_daily.setdefault(key, {"sessions_started": 0, "sessions_completed": 0})
        daily["sessions_started"] += 1
        daily["sessions_completed"] += summary.is_closed


class LandingZone:
    """Lines waiting for their arrival hour, and the files they are written to once it is complete.

    Compressing and writing happen on background threads (zlib and I/O release the GIL) while the
    next hour is generated; at most ``WRITES_IN_FLIGHT`` files wait, which keeps memory bounded.
    Use as a context manager: leaving it waits for every write and raises the first failure.
    """

    def __init__(self, landing: str, files_per_hour: int, truth: Truth) -> None:
        self.landing = landing
        self.files_per_hour = files_per_hour
        self.truth = truth
        self.pending: dict[int, list[tuple[int, int, bytes]]] = defaultdict(list)
        self.sequence = 0  # ties in arrival time keep the order lines were produced in
        self.writer = ThreadPoolExecutor(max_workers=WRITER_THREADS, thread_name_prefix="eventpipe-generate")
        self.in_flight: deque[Future[None]] = deque()

    def __enter__(self) -> LandingZone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self.in_flight:
                self.in_flight.popleft().result()
        finally:
            self.writer.shutdown(wait=True, cancel_futures=True)

    def add(self, arrival_ms: int, line: bytes) -> None:
        self.sequence += 1
        self.pending[arrival_ms // HOUR_MS].append((arrival_ms, self.sequence, line))

    def flush(self, hour: int) -> None:
        """Write the hour's lines in arrival order, split into one file per flush slot (empty slots: none)."""
        arrivals = sorted(self.pending.pop(hour, ()))
        hour_ms = hour * HOUR_MS
        for slot, group in groupby(arrivals, key=lambda a: (a[0] - hour_ms) * self.files_per_hour // HOUR_MS):
            self.write_file(hour, slot, [line for _, _, line in group])

    def write_file(self, hour: int, slot: int, lines: list[bytes]) -> None:
        _keep_blank_lines_inside(lines)
        opened = _EPOCH + timedelta(hours=hour, minutes=slot * 60 // self.files_per_hour)
        parts = (f"dt={opened:%Y-%m-%d}", f"hour={opened:%H}", f"events-{opened:%Y%m%dT%H%M}-{slot + 1:04d}.json.gz")
        self.in_flight.append(self.writer.submit(_compress_and_write, join(self.landing, *parts), lines))
        while len(self.in_flight) > WRITES_IN_FLIGHT:
            self.in_flight.popleft().result()
        self.truth.files += 1
        self.truth.lines += len(lines)
        self.truth.lines_per_file["/".join(parts)] = len(lines)


def _compress_and_write(url: str, lines: list[bytes]) -> None:
    # mtime=0: no timestamp in the gzip header, so the same lines always give the same bytes.
    write_bytes(url, gzip.compress(b"\n".join(lines) + b"\n", compresslevel=GZIP_LEVEL, mtime=0))


def _keep_blank_lines_inside(lines: list[bytes]) -> None:
    """Move the last non-blank line to the end, so a file never ends in a blank line.

    An empty last line makes the file end in a double newline, which some readers take as one
    trailing newline; between other lines it is unambiguously an empty line.
    """
    last_content = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].strip()), None)
    if last_content is not None and last_content < len(lines) - 1:
        lines.append(lines.pop(last_content))
