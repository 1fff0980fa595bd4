"""Deliver an interval to every configured destination, or resend a range; record each part in ``ops.delivery``.

Destinations are independent: one that fails (a revoked token, an endpoint down past its retries) is recorded
and reported, and the others still deliver; ``DeliveryFailed`` is raised only after every destination was tried,
so the Airflow task fails visibly and its retry resends only what is not delivered yet.

Organizations are independent too: a failure while delivering one organization's parts is recorded in the ledger
(the part ``failed``, with its redacted error) and the destination goes on with the next organization; only a
refused credential (401/403, which no other organization can get past) stops the destination at once. An event
that cannot be parsed or serialised (JSON nested too deeply, say) is dead-lettered with its reason and the rest of
its part is sent. Every error and dead-letter reason written to the ledger is redacted of the connection's secrets.

Parts:
- S3: an organization's events of one kind, cut by count and bytes (``eventpipe.deliver.s3``).
- HEC, Heap, GA4: an organization's events of one kind from one landing file, at most ``PUSH_PART_EVENTS`` a part
  (a file's loaded rows never change, so a part holds the same events on every run; rows a quarantine replay
  adds later form parts of their own, delivered by the next run of the hour). A part that fails
  part-way keeps the ids it delivered and its retry sends only the others (no duplicates from the retry itself).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import duckdb

from eventpipe.deliver import ledger
from eventpipe.deliver.config import Destination, load_destinations
from eventpipe.deliver.events import ANALYTICS, UNSENDABLE, Event, IntervalEvents, read_interval, unsendable_reason
from eventpipe.deliver.ledger import DELIVERED, FAILED, LedgerEntry, PartResult
from eventpipe.deliver.transport import (
    DeadLetter,
    DeliveryAuthError,
    DeliveryError,
    DeliveryReport,
    connection_secrets,
    redact,
)
from eventpipe.ingest.load import hour_floor
from eventpipe.ingest.replay import is_replay_batch
from eventpipe.warehouse import Warehouse, as_warehouse

log = logging.getLogger(__name__)
PUSH_PART_EVENTS = 10_000

GetConnection = Callable[[str], Any]
# A refused credential fails every organization alike: the destination stops at the first one.


class DeliveryFailed(Exception):
    """At least one destination did not deliver everything; the message says which and why (secrets redacted)."""


@dataclass
class DestinationOutcome:
    destination: Destination
    parts: list[PartResult] = field(default_factory=list)
    error: str | None = None

    @property
    def delivered(self) -> int:
        return sum(p.delivered for p in self.parts if p.kind != "manifest")

    def summary(self) -> str:
        sent = [p for p in self.parts if not p.skipped]
        skipped = len(self.parts) - len(sent)
        dead = sum(p.dead_lettered for p in self.parts)
        duplicates = sum(p.possible_duplicates for p in self.parts)
        text = (
            f"{self.destination.name} ({self.destination.type}): {self.delivered:,} events in {len(self.parts)} parts "
            f"({len(sent)} sent, {skipped} already delivered), {dead} dead-lettered, "
            f"{duplicates} possibly duplicated by resends"
        )
        return text + (f"; FAILED: {self.error}" if self.error else "")


@dataclass
class DeliveryRun:
    interval_start: datetime
    outcomes: list[DestinationOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[DestinationOutcome]:
        return [o for o in self.outcomes if o.error]

    def summary(self) -> str:
        lines = [f"{self.interval_start:%Y-%m-%dT%H}:00 deliveries"] + [f"  {o.summary()}" for o in self.outcomes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval_start": f"{self.interval_start:%Y-%m-%dT%H:%M:%S}",
            "destinations": {
                o.destination.name: {"delivered": o.delivered, "parts": len(o.parts), "error": o.error}
                for o in self.outcomes
            },
        }


def airflow_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def deliver_interval(
    target: Warehouse | duckdb.DuckDBPyConnection,
    interval_start: datetime,
    *,
    destinations: list[Destination] | None = None,
    get_connection: GetConnection = airflow_connection,
    run_id: str | None = None,
    force: bool = False,
    destination_name: str | None = None,
    organization_id: str | None = None,
) -> DeliveryRun:
    """Deliver one interval. ``force`` resends parts the ledger says are delivered (the ``redeliver`` DAG)."""
    interval_start = hour_floor(interval_start)
    con = as_warehouse(target)
    ledger.ensure_tables(con)
    destinations = [d for d in (destinations if destinations is not None else load_destinations()) if d.enabled]
    if destination_name and destination_name != "*":
        destinations = [d for d in destinations if d.name == destination_name]
        if not destinations:
            raise ValueError(f"no enabled destination named {destination_name!r}")
    run = DeliveryRun(interval_start)
    kinds = {kind for d in destinations for kind in d.kinds}
    events = read_interval(con, interval_start, kinds) if kinds else IntervalEvents(interval_start, {})
    for destination in destinations:
        outcome = DestinationOutcome(destination)
        run.outcomes.append(outcome)
        organizations = [
            org for org in events.organizations() if destination.applies_to(org) and organization_id in (None, "*", org)
        ]
        if not organizations:
            continue
        secrets: list[str] = []
        pending: list[tuple[PartResult, LedgerEntry | None]] = []
        try:
            state = ledger.entries(con, destination.name, interval_start)

            def record(result: PartResult, state=state, outcome=outcome, pending=pending, secrets=secrets) -> None:
                # ops.delivery is a table people read: never a credential in it, whatever the message came from.
                if result.error:
                    result.error = redact(result.error, secrets)
                result.dead_letters = [(i, code, redact(reason, secrets)) for i, code, reason in result.dead_letters]
                outcome.parts.append(result)
                if not result.skipped:
                    pending.append((result, state.get((result.organization_id, result.kind, result.part))))

            failures: list[str] = []
            with _target(destination, get_connection, secrets) as deliver:
                for org in organizations:
                    try:
                        deliver(org, events, state, force, record)
                    except DeliveryAuthError:  # HEC, Heap and GA4 alike
                        raise
                    except Exception as exc:  # one organization's failure must not stop the others
                        failures.append(f"{org}: {redact(f'{type(exc).__name__}: {exc}', secrets)}")
                        log.error("delivery of %s to %s failed: %s", org, destination.name, failures[-1])
                    finally:
                        ledger.record(con, pending, run_id)
                        pending.clear()
            if failures:
                outcome.error = (
                    f"{len(failures)} of {len(organizations)} organizations failed: "
                    + "; ".join(failures[:5])
                    + ("; ..." if len(failures) > 5 else "")
                )
        except Exception as exc:  # one destination's failure must not stop the others
            outcome.error = redact(f"{type(exc).__name__}: {exc}", secrets)
            log.error("delivery to %s failed: %s", destination.name, outcome.error)
    for outcome in run.outcomes:  # the task logs them as one table (eventpipe.orchestrate.outcome)
        log.debug("%s", outcome.summary())
    return run


def raise_if_failed(run: DeliveryRun) -> None:
    if run.failed:
        raise DeliveryFailed(
            f"{len(run.failed)} of {len(run.outcomes)} destinations failed for {run.interval_start:%Y-%m-%dT%H}:00:\n"
            + "\n".join(f"  {o.destination.name}: {o.error}" for o in run.failed)
        ) from None


def deliver_range(
    target: Warehouse | duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    **options: Any,
) -> list[DeliveryRun]:
    """Every loaded interval in ``[start, end)`` (from ``ops.loaded_file``), oldest first."""
    warehouse = as_warehouse(target)
    ledger.ensure_tables(warehouse)
    rows = warehouse.fetchall("loaded_intervals", {"range_start": hour_floor(start), "range_end": end})
    return [deliver_interval(warehouse, interval, **options) for (interval,) in rows]


# -- targets ----------------------------------------------------------------------------------------------


Deliver = Callable[[str, IntervalEvents, dict, bool, Callable[[PartResult], None]], None]


@contextlib.contextmanager
def _target(destination: Destination, get_connection: GetConnection, secrets: list[str]) -> Iterator[Deliver]:
    conn = get_connection(destination.connection_id)
    secrets.extend(connection_secrets(conn))
    if destination.type == "s3":
        store = _object_store(destination, conn)

        def deliver_s3(org, events, state, force, record) -> None:
            from eventpipe.deliver import s3

            by_kind = {kind: events.of(kind, org) for kind in destination.kinds}
            results = s3.deliver_organization(
                store, destination, org, events.interval_start, by_kind, state, force=force, on_result=record
            )
            failed = [r for r in results if r.status != DELIVERED]
            if failed:
                raise DeliveryError(f"{len(failed)} S3 PUT(s) failed, the first {failed[0].target}: {failed[0].error}")

        yield deliver_s3
        return
    client = _push_client(destination, conn)
    try:

        def deliver_push(org, events, state, force, record) -> None:
            for kind in destination.kinds:
                _push(
                    destination, client, org, kind, events.interval_start, events.of(kind, org), state, force, record,
                    secrets,
                )  # fmt: skip

        yield deliver_push
    finally:
        client.close()


def _object_store(destination: Destination, conn: Any):
    from eventpipe.deliver.s3 import LocalStore, S3Store

    conn_type = getattr(conn, "conn_type", None)
    if conn_type == "fs":
        path = (getattr(conn, "extra_dejson", None) or {}).get("path")
        if not path:
            raise ValueError(f"connection {destination.connection_id} (fs) has no extra 'path'")
        return LocalStore(path)
    if conn_type == "aws":
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client = S3Hook(aws_conn_id=destination.connection_id).get_conn()
        return S3Store(client, destination.options.get("sse_kms_key_id"))
    raise ValueError(f"connection {destination.connection_id}: type {conn_type!r}; S3 needs 'aws' (or 'fs' locally)")


def _url(conn: Any) -> str:
    host = str(getattr(conn, "host", "") or "")
    if "://" in host:
        return host.rstrip("/")
    scheme = getattr(conn, "schema", None) or "https"
    port = getattr(conn, "port", None)
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _push_client(destination: Destination, conn: Any):
    options = destination.options
    url = _url(conn)
    if destination.type == "splunk_hec":
        from eventpipe.deliver.hec.client import HecClient

        token = getattr(conn, "password", None)
        if not token:
            raise ValueError(f"connection {destination.connection_id} has no password (the HEC token)")
        return HecClient(
            url,
            token,
            index=options["index"],
            source=options["source"],
            sourcetype=options["sourcetype"],
            host=options["host"],
            use_ack=options["ack"],
            max_batch_events=options["max_batch_events"],
            max_batch_bytes=options["max_batch_bytes"],
            ack_poll_s=options["ack_poll_seconds"],
            ack_timeout_s=options["ack_timeout_seconds"],
            max_retries=destination.max_retries,
        )
    if destination.type == "heap":
        from eventpipe.deliver.heap import HeapClient

        return HeapClient(url, options["app_id"], max_retries=destination.max_retries)
    if destination.type == "ga4":
        from eventpipe.deliver.ga4 import Ga4Client

        return Ga4Client(
            url,
            options["measurement_id"],
            getattr(conn, "password", None) or "",
            validate=options["validate"],
            max_retries=destination.max_retries,
        )
    raise ValueError(f"unknown destination type {destination.type}")


def push_parts(events: list[Event]) -> list[tuple[str, list[Event]]]:
    """``(part name, events)``: per landing file, in event id order, at most ``PUSH_PART_EVENTS`` a part.

    Rows a quarantine replay added to a file form parts of their own (named after the replay), so the
    parts already delivered keep their events and are not sent again.
    """
    by_file: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        replay = event.batch_id if is_replay_batch(event.batch_id) else ""
        by_file[(event.source_file, replay)].append(event)
    parts = []
    for source_file, replay in sorted(by_file):
        stem = PurePosixPath(source_file).name + (f"#{replay}" if replay else "")
        file_events = sorted(by_file[(source_file, replay)], key=lambda e: e.event_id)
        for number, start in enumerate(range(0, len(file_events), PUSH_PART_EVENTS)):
            parts.append((f"{stem}#{number:03d}", file_events[start : start + PUSH_PART_EVENTS]))
    return parts


def _push(
    destination: Destination,
    client: Any,
    org: str,
    kind: str,
    interval_start: datetime,
    events: list[Event],
    state: dict[tuple[str, str, str], LedgerEntry],
    force: bool,
    record: Callable[[PartResult], None],
    secrets: list[str],
) -> None:
    for part, part_events in push_parts(events):
        checksum = hashlib.sha256("\n".join(e.event_id for e in part_events).encode()).hexdigest()
        previous = state.get((org, kind, part))
        result = PartResult(
            destination.name, destination.type, org, kind, interval_start, part, _target_name(destination),
            DELIVERED, len(part_events), 0, checksum,
        )  # fmt: skip
        if not force and previous is not None and previous.checksum == checksum and previous.status == DELIVERED:
            result.skipped, result.delivered = True, len(part_events)
            record(result)
            continue
        done = set(previous.delivered_ids) if previous and not force and previous.checksum == checksum else set()
        pending = [e for e in part_events if e.event_id not in done]
        try:
            report = _send(destination, client, pending)
        except Exception as exc:  # recorded as a failed part whatever it is, then the organization stops
            report = getattr(exc, "report", None) or DeliveryReport()
            report.dead_letter[:0] = getattr(exc, "unsendable", [])
            _fill(result, report, done)
            # ops.delivery is a table people read: never a credential in it, however the message came to hold one.
            result.status, result.error = FAILED, redact(f"{type(exc).__name__}: {exc}", secrets)
            record(result)
            raise
        _fill(result, report, done)
        record(result)


def _fill(result: PartResult, report: DeliveryReport, done: set[str]) -> None:
    result.attempts = report.attempts
    result.possible_duplicates = report.possible_duplicates + report.duplicates_sent
    result.bytes = report.bytes_sent
    result.ack_ids = list(report.ack_ids)
    result.delivered_ids = sorted(done | set(report.delivered_ids))
    result.delivered = len(result.delivered_ids)
    result.dead_letters = [(d.event_id, None if d.code is None else str(d.code), d.text) for d in report.dead_letter]


def _send(destination: Destination, client: Any, events: list[Event]) -> DeliveryReport:
    """Send ``events``; one that cannot be parsed or serialised is dead-lettered with its reason, the rest sent."""
    if not events:
        return DeliveryReport()
    if destination.type != "splunk_hec":
        return client.send(events)  # Heap and GA4 dead-letter what they cannot prepare themselves
    unsendable: list[DeadLetter] = []
    objects = []
    for event in events:
        try:
            objects.append({"event_id": event.event_id, "time": event.event_time_ms / 1000, "event": event.envelope()})
        except UNSENDABLE as exc:
            unsendable.append(DeadLetter(event.event_id, None, unsendable_reason(exc)))
    try:
        report = client.send(objects) if objects else DeliveryReport()
    except Exception as exc:
        exc.unsendable = unsendable  # the caller records them with the partial report
        raise
    report.dead_letter[:0] = unsendable
    return report


def _target_name(destination: Destination) -> str:
    return {
        "splunk_hec": f"hec:{destination.options.get('index') or 'default'}",
        "heap": f"heap:{destination.options.get('app_id')}",
        "ga4": f"ga4:{destination.options.get('measurement_id')}",
    }.get(destination.type, destination.type)


__all__ = ["ANALYTICS", "DeliveryFailed", "DeliveryRun", "deliver_interval", "deliver_range", "raise_if_failed"]


def deliver_hour(
    interval_start: datetime,
    *,
    run_id: str | None = None,
) -> DeliveryRun:
    """What the ``deliver`` task calls: deliver one interval from the configured warehouse (failures recorded in the
    run, not raised: ``eventpipe.orchestrate.outcome.finish_deliveries`` logs the table, then fails the task)."""
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        return deliver_interval(target, interval_start, run_id=run_id)


def redeliver_range(
    start: str | datetime,
    end: str | datetime,
    *,
    destination_name: str = "*",
    organization_id: str = "*",
    run_id: str | None = None,
) -> list[DeliveryRun]:
    """What the ``redeliver`` DAG's resend calls: resend every loaded interval in ``[start, end)`` (parameters
    checked by ``eventpipe.deliver.redeliver.parse_request`` first)."""
    from eventpipe.warehouse import open_warehouse

    start, end = _as_utc(start), _as_utc(end)
    if end <= start:
        raise ValueError(f"end ({end:%Y-%m-%dT%H:%M}) must be after start ({start:%Y-%m-%dT%H:%M})")
    with open_warehouse() as target:
        runs = deliver_range(
            target,
            start,
            end,
            force=True,
            run_id=run_id,
            destination_name=destination_name,
            organization_id=organization_id,
        )
    log.info("resent %d intervals in [%s, %s)", len(runs), start, end)
    return runs


def _as_utc(value: str | datetime) -> datetime:
    from datetime import UTC

    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
