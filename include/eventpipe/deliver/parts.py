"""A destination's parts of an interval, and sending them: one ledger record (``PartResult``) per part.

S3 parts are an organization's events of one kind, cut by count and bytes (``eventpipe.deliver.s3``). HEC, Heap
and GA4 parts are an organization's events of one kind from one landing file, at most ``PUSH_PART_EVENTS`` a part,
so a part holds the same events on every run; a part that fails part-way keeps the ids it delivered and its retry
sends only the others.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from eventpipe.deliver.clients import object_store, push_client
from eventpipe.deliver.config import Destination
from eventpipe.deliver.events import UNSENDABLE, Event, IntervalEvents, unsendable_reason
from eventpipe.deliver.ledger import DELIVERED, FAILED, LedgerEntry, PartResult
from eventpipe.deliver.transport import DeadLetter, DeliveryError, DeliveryReport, connection_secrets, redact
from eventpipe.ingest.replay import is_replay_batch

PUSH_PART_EVENTS = 10_000
GetConnection = Callable[[str], Any]
Deliver = Callable[[str, IntervalEvents, dict, bool, Callable[[PartResult], None]], None]


@contextlib.contextmanager
def open_target(destination: Destination, get_connection: GetConnection, secrets: list[str]) -> Iterator[Deliver]:
    conn = get_connection(destination.connection_id)
    secrets.extend(connection_secrets(conn))
    if destination.type == "s3":
        store = object_store(destination, conn)

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
    client = push_client(destination, conn)
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
