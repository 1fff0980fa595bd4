"""Heap server-side bulk track: analytics events, at most 1,000 a request, ``idempotency_key`` = event id.

``POST <url>/api/track`` with ``{"app_id": ..., "events": [{identity, event, timestamp, idempotency_key,
properties}]}``. The identity is the session, which is the pair (``organizationId``, ``sessionId``):
``<organization>:<session>`` (an organization id holds no ``:``), or a hash of the pair when that is over Heap's 255
characters or the organization id is not the contract's; two organizations reusing a session id are two identities.
Heap's limits are enforced before sending: identity at most 255 characters (an event without a session is
dead-lettered), event names at most 1,024, property names at most 512 and values at most 1,024 characters
(longer values are cut, as Heap itself would), property values flat (nested values travel as JSON text).
Retries, splitting of refused batches and the dead letter follow ``eventpipe.deliver.transport``. A resend after a lost
answer is harmless here: Heap keeps one event per ``idempotency_key``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from eventpipe.contract import ORGANIZATION_ID
from eventpipe.deliver.events import UNSENDABLE, Event, unsendable_reason
from eventpipe.deliver.json_sender import Item, JsonSender
from eventpipe.deliver.transport import DeadLetter, DeliveryReport

MAX_EVENTS = 1_000
MAX_BATCH_BYTES = 1_000_000
MAX_IDENTITY = 255
MAX_EVENT_NAME = 1_024
MAX_PROPERTY_NAME = 512
MAX_PROPERTY_VALUE = 1_024
TRACK_PATH = "/api/track"


def identity(organization_id: str, session_id: str) -> str:
    """The Heap identity of a session (organization, session): readable when it can be, unambiguous always."""
    readable = f"{organization_id}:{session_id}"
    if ORGANIZATION_ID.fullmatch(organization_id) and len(readable) <= MAX_IDENTITY:
        return readable
    return "session-" + hashlib.sha256(f"{organization_id}\n{session_id}".encode()).hexdigest()


def heap_event(event: Event) -> dict[str, Any] | str:
    """The Heap track object for one analytics event, or the reason it cannot be sent."""
    if not event.session_id:
        return "no session id to use as the Heap identity"
    name = event.analytics_name
    if not name:
        return "analytics event without a name"
    properties: dict[str, Any] = {}
    raw = json.loads(event.analytics_properties) if event.analytics_properties else {}
    if not isinstance(raw, dict):
        raw = {"value": raw}
    context = {"session_id": event.session_id, "app_id": event.app_id, "organization_id": event.organization_id}
    for key, value in {**raw, **{k: v for k, v in context.items() if v is not None}}.items():
        properties[str(key)[:MAX_PROPERTY_NAME]] = _flat(value)
    return {
        "identity": identity(event.organization_id, event.session_id),
        "event": name[:MAX_EVENT_NAME],
        "timestamp": event.event_time_iso,
        "idempotency_key": event.event_id,
        "properties": properties,
    }


def _flat(value: Any) -> str | int | float | bool:
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text[:MAX_PROPERTY_VALUE]


class HeapClient:
    def __init__(self, url: str, app_id: str, *, max_batch_events: int = MAX_EVENTS, **options: Any) -> None:
        if not 1 <= max_batch_events <= MAX_EVENTS:
            raise ValueError(f"Heap takes at most {MAX_EVENTS} events a request")
        self.app_id = str(app_id)
        self.max_batch_events = max_batch_events
        self._sender = JsonSender(url, name="Heap", **options)

    def close(self) -> None:
        self._sender.close()

    def __enter__(self) -> HeapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, events: Iterable[Event]) -> DeliveryReport:
        report = DeliveryReport()
        items: list[Item] = []
        for event in events:
            try:
                payload = heap_event(event)
            except UNSENDABLE as exc:  # properties nested too deeply to parse, say: this event only
                payload = unsendable_reason(exc)
            if isinstance(payload, str):
                report.dead_letter.append(DeadLetter(event.event_id, None, payload))
            else:
                items.append(Item(event.event_id, payload))
        return self._sender.send(self._batches(items), TRACK_PATH, self._encode, report)

    def _batches(self, items: list[Item]) -> Iterator[list[Item]]:
        batch: list[Item] = []
        size = 0
        for item in items:
            item_size = len(json.dumps(item.payload, ensure_ascii=False)) + 1
            if batch and (len(batch) >= self.max_batch_events or size + item_size > MAX_BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(item)
            size += item_size
        if batch:
            yield batch

    def _encode(self, items: list[Item]) -> bytes:
        body = {"app_id": self.app_id, "events": [item.payload for item in items]}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
