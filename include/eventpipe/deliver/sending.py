"""Sending one part, as the ledger records it: exactly once per destination, at the part.

For each part (``eventpipe.deliver.parts``), in this order:

1. A part the ledger says ``delivered`` is skipped (a re-run, a retry, a later run of the same units).
2. A part left ``sending`` or ``accepted`` by a run that died is *in doubt*, and resolved before anything is sent:
   - Splunk HEC: the part went out on a request channel of its own, so its ackIds are its alone. They are asked
     (``/services/collector/ack``), until the part's ``ack_timeout_seconds`` has passed since it was recorded: an
     acknowledged part is delivered (nothing is sent again); an unacknowledged one was never indexed, and is sent
     again on a new channel (counted as a possible duplicate when HEC had accepted it: an ack it reported true to
     the dead run is forgotten once reported).
   - S3 (the same key is overwritten) and Heap (one event per ``idempotency_key``): sent again, harmlessly.
   - GA4 keeps every copy and cannot be asked: sent again, and its events counted in ``possible_duplicates``.
3. Events older than the destination's age window (``max_event_age_hours``: GA4's Measurement Protocol ignores
   events over 72 hours old while answering 2xx) are dead-lettered ``too_old_for_destination``, never sent.
4. The part's row is written ``sending`` (with its channel, for HEC) before the request leaves: were the run to die
   now, the part is known to be in doubt, never silently resent. Where a resend is harmless (S3 overwrites the same
   key, Heap keeps one event per ``idempotency_key``), and for a part with nothing left to send (every event too old,
   say), no row is needed before: the part's row is written with its unit's done row (``PartOutcome.deferred``), one
   write a unit instead of two a part; a run that dies first leaves no row, and the part is sent again.
5. The destination's answer is recorded as it comes: ``accepted`` (HEC took the batch: its channel and ackIds) before
   its acknowledgement is awaited, ``delivered`` once every event is delivered or dead-lettered, ``failed`` otherwise
   (the events a partly delivered part did deliver are kept, and its retry sends only the others).

So after any crash, a part is sent again only when the destination may not have it, and a copy that may have landed
twice is counted. The one window left: a destination's answer that arrived while the run died, before step 5's write
(milliseconds); its part is then in doubt and resolved as above.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from eventpipe.deliver.clients import object_store, push_client
from eventpipe.deliver.config import Destination
from eventpipe.deliver.events import EPOCH, UNSENDABLE, Event, unsendable_reason
from eventpipe.deliver.ledger import ACCEPTED, DELIVERED, FAILED, IN_DOUBT, SENDING, DeadLetter, Ledger, PartRecord
from eventpipe.deliver.parts import Part
from eventpipe.deliver.transport import DeadLetter as Refused
from eventpipe.deliver.transport import DeliveryReport, redact
from eventpipe.utc import utc_now

TOO_OLD = "too_old_for_destination"
# An event this close to the destination's age limit is not sent either: the limit is the destination's clock's, and
# the send happens a moment after the check.
AGE_MARGIN = timedelta(minutes=5)
# On a part's own channel its requests were given ackIds 0, 1, ...: a retried batch, or one split by HEC, takes a few.
ACK_IDS_ASKED = 16


@dataclass
class PartOutcome:
    record: PartRecord
    skipped: bool = False  # delivered by an earlier run: nothing sent
    resolved: bool = False  # in doubt after a crash, found delivered without sending it again
    too_old: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    deferred: bool = False  # delivered, its row and dead letters not written yet: the caller writes them


# A part these destinations take twice lands once (same key, same idempotency key): no row before it is sent.
IDEMPOTENT = ("s3", "heap")


class Sender:
    """Sends one destination's parts; ``send`` may run in several threads at once (a client per thread)."""

    def __init__(self, destination: Destination, conn: Any, ledger: Ledger, secrets: list[str]) -> None:
        self.destination = destination
        self.conn = conn
        self.ledger = ledger
        self.secrets = secrets
        self._local = threading.local()
        self._clients: list[Any] = []
        self._guard = threading.Lock()
        self.store = object_store(destination, conn) if destination.type == "s3" else None

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def client(self) -> Any:
        """This thread's client (HEC, Heap and GA4 clients keep one connection each and are not thread-safe)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = push_client(self.destination, self.conn)
            with self._guard:
                self._clients.append(client)
        return client

    # -- one part --------------------------------------------------------------------------------------------

    def send(self, part: Part, previous: PartRecord | None) -> PartOutcome:
        destination = self.destination
        record = self._record(part, previous)
        if previous is not None and previous.status == DELIVERED:
            record.status, record.delivered = DELIVERED, previous.delivered
            record.dead_lettered = previous.dead_lettered
            return PartOutcome(record, skipped=True)
        if previous is not None and previous.status in IN_DOUBT:
            if destination.type == "splunk_hec" and self._acknowledged(previous):
                record.status, record.delivered = DELIVERED, part.size - previous.dead_lettered
                record.dead_lettered, record.ack_ids = previous.dead_lettered, previous.ack_ids
                self.ledger.write([record])
                return PartOutcome(record, resolved=True)
            if destination.type == "ga4" or (destination.type == "splunk_hec" and previous.status == ACCEPTED):
                record.possible_duplicates += len(part.events)  # it may have landed: GA4 keeps every copy
        outcome = PartOutcome(record)
        done = set(previous.delivered_ids) if previous is not None else set()
        events = [event for event in part.events if event.event_id not in done]
        events = self._within_age(events, outcome)
        outcome.dead += [self._dead(part, event_id, None, reason) for event_id, reason in part.unsendable]
        record.channel = str(uuid.uuid4()) if destination.type == "splunk_hec" else None
        record.ack_ids = []
        nothing_to_send = not events and part.body is None
        deferred = nothing_to_send or destination.type in IDEMPOTENT
        if not deferred:
            self.ledger.write([record])  # sending: from here the part is in doubt until its answer is written
        report = DeliveryReport()
        try:
            report = self._transmit(part, events, record)
        except Exception as exc:
            report = getattr(exc, "report", None) or report
            self._fill(record, report, part, done, outcome, written=False)
            record.status = FAILED
            record.error = redact(f"{type(exc).__name__}: {exc}", self.secrets)
            self.ledger.write([record], outcome.dead)
            raise
        self._fill(record, report, part, done, outcome, written=True)
        record.status = DELIVERED if record.delivered + record.dead_lettered >= part.size else FAILED
        if record.status == FAILED:
            missing = part.size - record.delivered - record.dead_lettered
            record.error = f"{missing} event(s) neither delivered nor refused"
        if deferred and record.status == DELIVERED:
            outcome.deferred = True  # written with the unit's done row
            return outcome
        self.ledger.write([record], outcome.dead)
        return outcome

    def _record(self, part: Part, previous: PartRecord | None) -> PartRecord:
        destination, unit = self.destination, part.unit
        return PartRecord(
            destination.name, destination.type, unit.organization_id, unit.kind, unit.commit_seq, unit.interval_start,
            part.number, SENDING, part.size, first_event_id=part.first_event_id, last_event_id=part.last_event_id,
            target=self._target(part), attempts=previous.attempts if previous else 0,
            possible_duplicates=previous.possible_duplicates if previous else 0, checksum=part.checksum(),
        )  # fmt: skip

    def _target(self, part: Part) -> str:
        from eventpipe.deliver import s3

        options = self.destination.options
        if self.destination.type == "s3":
            key = s3.part_key(self.destination, part.unit, part.number) if part.body is not None else ""
            return f"s3://{options['bucket']}/{key}"
        return {
            "splunk_hec": f"hec:{options.get('index') or 'default'}",
            "heap": f"heap:{options.get('app_id')}",
            "ga4": f"ga4:{options.get('measurement_id')}",
        }[self.destination.type]

    def _within_age(self, events: list[Event], outcome: PartOutcome) -> list[Event]:
        hours = self.destination.max_event_age_hours
        if hours is None:
            return events
        now = utc_now()
        cutoff_ms = (now - timedelta(hours=hours) + AGE_MARGIN - EPOCH) // timedelta(milliseconds=1)
        kept = []
        for event in events:
            if event.event_time_ms < cutoff_ms:
                age = (now - EPOCH) / timedelta(hours=1) - event.event_time_ms / 3_600_000
                reason = (
                    f"{TOO_OLD}: the event is {age:.1f} hours old; {self.destination.type} takes events up to"
                    f" {hours} hours old"
                )
                outcome.dead.append(self._dead(outcome.record, event.event_id, None, reason))
                outcome.too_old += 1
            else:
                kept.append(event)
        return kept

    def _dead(self, part: Part | PartRecord, event_id: str, code: Any, reason: str) -> DeadLetter:
        unit = part.unit if isinstance(part, Part) else part
        number = part.number if isinstance(part, Part) else part.part
        return DeadLetter(
            self.destination.name, event_id, unit.organization_id, unit.kind, unit.interval_start, str(number),
            None if code is None else str(code), redact(reason, self.secrets), unit.commit_seq,
        )  # fmt: skip

    def _fill(self, record: PartRecord, report: DeliveryReport, part: Part, done: set[str], outcome, written) -> None:
        record.attempts += report.attempts
        record.bytes += report.bytes_sent
        record.possible_duplicates += report.possible_duplicates + report.duplicates_sent
        outcome.dead += [self._dead(part, d.event_id, d.code, d.text) for d in report.dead_letter]
        record.dead_lettered = len({d.event_id for d in outcome.dead})
        if part.body is not None:  # S3: the object was written whole (or not at all)
            record.delivered = part.object_events if written else 0
            return
        record.delivered_ids = sorted(done | set(report.delivered_ids))
        record.delivered = len(record.delivered_ids)

    # -- the destinations ------------------------------------------------------------------------------------

    def _transmit(self, part: Part, events: list[Event], record: PartRecord) -> DeliveryReport:
        kind = self.destination.type
        if kind == "s3":
            return self._put(part)
        if not events:
            return DeliveryReport()
        if kind != "splunk_hec":
            return self.client().send(events)  # Heap and GA4 dead-letter what they cannot prepare themselves
        items, unsendable = [], []
        for event in events:
            try:
                envelope = event.envelope()
                items.append({"event_id": event.event_id, "time": event.event_time_ms / 1000, "event": envelope})
            except UNSENDABLE as exc:
                unsendable.append(Refused(event.event_id, None, unsendable_reason(exc)))

        def accepted(ack_ids: list[int]) -> None:  # HEC took it: its ackIds, before the acknowledgement is awaited
            record.status, record.ack_ids = ACCEPTED, list(ack_ids)
            self.ledger.write([record])

        report = self.client().send(items, channel=record.channel, on_accepted=accepted) if items else DeliveryReport()
        report.dead_letter[:0] = unsendable
        return report

    def _put(self, part: Part) -> DeliveryReport:
        from eventpipe.deliver import s3

        report = DeliveryReport()
        if part.body is None:  # every event dead-lettered: nothing to write
            return report
        key = s3.part_key(self.destination, part.unit, part.number)
        report.attempts = 1
        try:
            self.store.put(
                self.destination.options["bucket"], key, part.body, content_type="application/x-ndjson",
                content_encoding="gzip",
            )  # fmt: skip
        except Exception as exc:
            exc.report = report
            raise
        report.bytes_sent = len(part.body)
        return report

    def _acknowledged(self, previous: PartRecord) -> bool:
        """Whether HEC acknowledges the in-doubt part's channel, asking until its ack timeout has passed since the
        part was recorded (the timeout is the destination's, not a handover: any clock will do)."""
        if not previous.channel:
            return False
        client = self.client()
        asked = previous.ack_ids or list(range(ACK_IDS_ASKED))
        recorded = previous.updated_at or utc_now()
        timeout = timedelta(seconds=self.destination.options["ack_timeout_seconds"])
        while True:
            if any(client.query_acks(previous.channel, asked).values()):
                return True
            if utc_now() - recorded >= timeout:
                return False
            time.sleep(min(self.destination.options["ack_poll_seconds"], 5.0))
