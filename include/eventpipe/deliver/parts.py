"""A unit's parts at one destination: what the destination acknowledges at once, cut from the unit's event stream.

- Splunk HEC: at most ``max_batch_events`` App Events and about ``max_batch_bytes`` (one HEC batch), sent on a
  request channel of the part's own, so that the part's ackIds say whether it landed, whatever became of the run
  that sent it.
- Heap: at most 1,000 analytics events (one bulk track request).
- GA4: one session's analytics events, at most 25 (one Measurement Protocol request carries one ``client_id``).
- S3: one object of at most ``max_part_events`` events and ``max_part_bytes`` uncompressed bytes, built as the events
  stream by (``eventpipe.deliver.s3.ObjectBuilder``).

The stream's order never changes (``eventpipe.deliver.events.stream``), so a part holds the same events on every run
and its number identifies it in the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from eventpipe.deliver import ga4, heap, s3
from eventpipe.deliver.config import Destination
from eventpipe.deliver.events import UNSENDABLE, Event, unsendable_reason
from eventpipe.deliver.ledger import Unit

# Bytes a HEC envelope adds to an event's payload (time, host, source, sourcetype, index, fields.event_id): a part
# stays within one HEC batch; should it not, the client splits it, on the part's channel all the same.
HEC_ENVELOPE_BYTES = 400


@dataclass
class Part:
    """One part: its events (HEC, Heap, GA4) or its object (S3), and the events it could not carry."""

    unit: Unit
    number: int
    events: list[Event] = field(default_factory=list)
    body: bytes | None = None  # S3: the gzip object
    object_events: int = 0  # S3: the events in it
    first_event_id: str | None = None
    last_event_id: str | None = None
    unsendable: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason): dead letters

    @property
    def size(self) -> int:
        """Every event of the part: carried, or to be dead-lettered."""
        return len(self.events) + self.object_events + len(self.unsendable)

    def checksum(self) -> str:
        if self.body is not None:
            return hashlib.sha256(self.body).hexdigest()
        ids = [event.event_id for event in self.events] + [event_id for event_id, _ in self.unsendable]
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def cut(destination: Destination, unit: Unit, events: Iterator[Event]) -> Iterator[Part]:
    """The unit's parts at ``destination``, numbered from 0, as its events stream."""
    if destination.type == "s3":
        yield from _objects(destination, unit, events)
        return
    if destination.type == "splunk_hec":
        max_events, max_bytes = destination.options["max_batch_events"], destination.options["max_batch_bytes"]
    elif destination.type == "heap":
        max_events, max_bytes = heap.MAX_EVENTS, heap.MAX_BATCH_BYTES
    else:
        max_events, max_bytes = ga4.MAX_EVENTS, ga4.MAX_REQUEST_BYTES
    per_session = destination.type == "ga4"
    part = Part(unit, 0)
    size = 0
    for event in events:
        length = len(event.payload) + HEC_ENVELOPE_BYTES
        boundary = per_session and part.events and part.events[-1].session_id != event.session_id
        if part.events and (boundary or len(part.events) >= max_events or size + length > max_bytes):
            yield _closed(part)
            part, size = Part(unit, part.number + 1), 0
        part.events.append(event)
        size += length
    if part.events:
        yield _closed(part)


def _closed(part: Part) -> Part:
    part.first_event_id, part.last_event_id = part.events[0].event_id, part.events[-1].event_id
    return part


def _objects(destination: Destination, unit: Unit, events: Iterator[Event]) -> Iterator[Part]:
    """S3 objects; an organization id that is not the contract's gets no object: every event is dead-lettered."""
    if not s3.valid_organization_id(unit.organization_id):
        reason = f"{s3.INVALID_ORGANIZATION_ID}: the organization id does not match the contract's pattern"
        part = Part(unit, 0)
        for event in events:
            part.unsendable.append((event.event_id, reason))
            if len(part.unsendable) >= destination.options["max_part_events"]:
                yield part
                part = Part(unit, part.number + 1)
        if part.unsendable:
            yield part
        return
    max_events, max_bytes = destination.options["max_part_events"], destination.options["max_part_bytes"]
    number, builder, unsendable = 0, s3.ObjectBuilder(), []
    for event in events:
        try:
            line = event.envelope_json() + b"\n"
        except UNSENDABLE as exc:
            unsendable.append((event.event_id, unsendable_reason(exc)))
            continue
        if builder.events and (builder.events >= max_events or builder.raw_bytes + len(line) > max_bytes):
            yield _object(unit, number, builder, unsendable)
            number, builder, unsendable = number + 1, s3.ObjectBuilder(), []
        builder.add(event.event_id, line)
    if builder.events or unsendable:
        yield _object(unit, number, builder, unsendable)


def _object(unit: Unit, number: int, builder: s3.ObjectBuilder, unsendable: list[tuple[str, str]]) -> Part:
    body = builder.close() if builder.events else None
    return Part(
        unit, number, body=body, object_events=builder.events, first_event_id=builder.first_event_id,
        last_event_id=builder.last_event_id, unsendable=unsendable,
    )  # fmt: skip
