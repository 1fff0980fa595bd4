"""Deliver events to a Splunk HTTP Event Collector: batched, gzip, retried, acknowledged, dead-lettered.

What the Deliveries contract (design.md) asks, and how this client does it:

- Batches of concatenated ``{time, host, source, sourcetype, index, event, fields}`` objects, bounded by a count
  and by uncompressed bytes (Splunk's ``max_content_length`` is 1 MB on older and Cloud stacks); one event over
  the byte bound can never be sent, so it goes to the dead letter with the reason. The event id travels in the
  indexed ``fields`` (``event_id``), so duplicates, where they happen, can be found and removed in Splunk.
- 503 / 429 / 5xx / timeouts / connection resets: retried with exponential backoff and full jitter, at least
  ``Retry-After`` when the endpoint sends one. After ``max_retries`` the send fails (``HecUnavailableError``)
  with the report of what landed so far: a task retry picks it up.
- Invalid data (400 codes 5, 6, 7, 12, 13, 15): no retry of the same bytes. The batch is split around the event
  the endpoint names (``invalid-event-number``), or in halves when it names none, until the bad events stand
  alone; only those are dead-lettered, each with the endpoint's own code and text. The rest is delivered.
- 401 / 403: ``HecAuthError`` at once, no retry; the token is redacted (``Splunk ****``) everywhere.
- ``use_ack=True``: an event counts as delivered only when its batch's ackId reports true on ``/ack``. An ackId
  still false after ``ack_timeout_s`` makes the batch go again.

Duplicates. HEC is not idempotent: a batch sent twice is indexed twice. The client resends only when it has no
evidence the first copy was accepted, and counts what it could not rule out:

- A reset or timeout *after* the request went out leaves the outcome unknown. Without acknowledgement the client
  must resend (else it would lose data), and a copy that had landed becomes a duplicate: those events are
  counted in ``possible_duplicates``.
- With acknowledgement, on a channel of its own, the client uses the fact that HEC hands out ackIds per channel
  one by one (0, 1, 2, ...). It does not resend an unanswered batch right away: it sends the next batch first,
  and that batch's ackId says how many of the unanswered requests were accepted before it (none: resend them;
  all: they hold the ackIds in between and are polled like any other). Then it moves to a fresh channel, so that
  a request still in flight on the old one (a timeout) can never be mistaken for another later. When the count
  cannot be told apart (several unanswered and a partial count, a sequence that went backwards, a channel the
  caller chose, or the last batches of a send, with nothing after them), the client resends: a copy proven
  accepted twice is counted in ``duplicates_sent``, one that may have landed in ``possible_duplicates``.
  This assumes a reset connection means the endpoint is done with the request (true of HEC itself; a proxy that
  cuts the client off while the indexer still works would turn some "not accepted" into duplicates, not losses).
  An ack that turned true while its answer was lost is forgotten by Splunk once reported, so the ack timeout
  resends that batch: also counted in ``possible_duplicates``.

One ``HecClient`` keeps one connection; it is not thread-safe (use one client per thread).
"""

from __future__ import annotations

import gzip as gzip_codec
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from eventpipe.deliver.hec import CHANNEL_HEADER, REDACTED
from eventpipe.deliver.hec.delivery import Batch, Delivery, Item, Response
from eventpipe.deliver.hec.errors import HecAuthError
from eventpipe.deliver.transport import (
    Connection,
    DeadLetter,
    DeliveryError,
    DeliveryReport,
    backoff,
    redact,
    retry_after,
)

log = logging.getLogger(__name__)

# Level 1: App Event JSON still shrinks ~15-20x, at a third of level 6's CPU (level 6 saves ~20% more bytes and
# was a tenth of the batched client's time in bench/hec.py).
GZIP_LEVEL = 1
_ENCODER = msgspec.json.Encoder()
_METADATA = frozenset({"host", "source", "sourcetype", "index"})


class _Secret:
    """Holds the token so that no repr, str or f-string of an object that carries it can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


class _Sensitive(str):
    """A header value that shows as redacted in any repr (a dict of headers in a traceback's locals, say)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED)


class HecClient:
    """A Splunk HEC sender. ``url`` is the endpoint root (``https://splunk:8088``); ``token`` the HEC token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        index: str | None = None,
        source: str | None = None,
        sourcetype: str | None = None,
        host: str | None = None,
        channel: str | None = None,
        use_ack: bool = False,
        max_batch_events: int = 500,
        max_batch_bytes: int = 900_000,
        gzip: bool = True,
        max_retries: int = 8,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        ack_timeout_s: float = 300.0,
        ack_poll_s: float = 10.0,
        max_pending_acks: int = 64,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_batch_events < 1 or max_batch_bytes < 1 or max_pending_acks < 1:
            raise ValueError("max_batch_events, max_batch_bytes and max_pending_acks must be at least 1")
        if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
            # http.client would echo a bad header value in its error; say what is wrong without the value.
            raise ValueError(f"the HEC token ({REDACTED}) is empty or has characters a header cannot carry")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        netloc = parts.netloc.rpartition("@")[2]  # never keep credentials embedded in the URL
        root = parts.path.split("/services/collector")[0].rstrip("/")
        self.url = f"{parts.scheme}://{netloc}{root}"
        self.event_path = f"{root}/services/collector/event"
        self.ack_path = f"{root}/services/collector/ack"
        self._token = _Secret(token)
        self.index, self.source, self.sourcetype, self.host = index, source, sourcetype, host
        self._metadata_defaults = (("host", host), ("source", source), ("sourcetype", sourcetype), ("index", index))
        self._metadata = {key: value for key, value in self._metadata_defaults if value is not None}
        self.channel = channel or str(uuid.uuid4())
        self.own_channel = channel is None
        self.use_ack = use_ack
        self.max_batch_events, self.max_batch_bytes, self.gzip = max_batch_events, max_batch_bytes, gzip
        self.max_retries, self.backoff_base_s, self.backoff_max_s = max_retries, backoff_base_s, backoff_max_s
        self.ack_timeout_s, self.ack_poll_s, self.max_pending_acks = ack_timeout_s, ack_poll_s, max_pending_acks
        self.sleep, self.clock = sleep, clock
        self._rng = rng or random.Random()
        self._connection = Connection(parts.scheme, netloc, timeout_s)
        # The last ackId seen on the channel. Tracked only on channels the client made up (they start at 0 on the
        # endpoint); one the caller passed may have history and other senders.
        self.last_ack_id: int | None = -1 if channel is None else None

    def new_channel(self) -> None:
        self.channel = str(uuid.uuid4())
        self.last_ack_id = -1

    def __repr__(self) -> str:
        return (
            f"HecClient(url={self.url!r}, token={REDACTED}, channel={self.channel!r}, index={self.index!r}, "
            f"use_ack={self.use_ack})"
        )

    def __enter__(self) -> HecClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def send(
        self,
        events: Iterable[Mapping[str, Any]],
        *,
        channel: str | None = None,
        on_accepted: Callable[[list[int]], None] | None = None,
    ) -> DeliveryReport:
        """Deliver ``{"event_id": str, "time": epoch seconds, "event": dict}`` items; see the module docstring.

        An item may also carry ``host``, ``source``, ``sourcetype``, ``index`` (overriding the client's) and
        ``fields`` (indexed fields; ``event_id`` is always added). Raises ``DeliveryError`` subclasses with ``.report``.

        ``channel``: send on this channel for this call alone (a delivery part's own: its ackIds are the part's, so
        they answer for it after a crash); ``on_accepted(ack_ids)`` is called each time the endpoint accepts a batch,
        with every ackId the call has been given so far, before its acknowledgement is awaited.
        """
        saved = (self.channel, self.own_channel, self.last_ack_id)
        if channel is not None:
            self.channel, self.own_channel, self.last_ack_id = channel, False, None
        delivery = Delivery(self, on_accepted)
        try:
            delivery.run(events)
        except DeliveryError as exc:
            exc.report = delivery.close()
            raise
        finally:
            if channel is not None:
                self.channel, self.own_channel, self.last_ack_id = saved
        report = delivery.close()
        log.info("HEC delivery to %s: %s", self.url, report.summary())
        return report

    def query_acks(self, channel: str, ack_ids: list[int]) -> dict[int, bool]:
        """Whether each of ``ack_ids`` is acknowledged on ``channel`` (one ``/ack`` question, retried on transient
        failures). An ackId the endpoint reported true once is forgotten: asked again, it answers false."""
        answer = Delivery(self).query(channel, ack_ids)
        return {int(key): value is True for key, value in answer.items() if str(key).isdigit()}

    # -- building batches -------------------------------------------------------------------------------

    def batches(self, events: Iterable[Mapping[str, Any]], report: DeliveryReport) -> Iterator[Batch]:
        """Cut the input into batches within both bounds, lazily, so any number of events streams through."""
        items: list[Item] = []
        size = 0
        for event in events:
            item = self._prepare(event, report)
            if item is None:
                continue
            if items and (len(items) >= self.max_batch_events or size + len(item.payload) > self.max_batch_bytes):
                yield Batch(items)
                items, size = [], 0
            items.append(item)
            size += len(item.payload)
        if items:
            yield Batch(items)

    def _prepare(self, event: Mapping[str, Any], report: DeliveryReport) -> Item | None:
        """One input -> its serialized HEC object, or a dead letter when it can never be sent."""
        event_id = event.get("event_id") if isinstance(event, dict | Mapping) else None
        if not isinstance(event_id, str) or not event_id:
            report.dead_letter.append(DeadLetter(str(event_id), None, "the input has no string event_id"))
            return None
        try:
            # msgspec: ~6x faster than json.dumps, same compact UTF-8 JSON. One object a line (HEC allows whitespace
            # between objects), so a receiver can read a batch line by line. NaN / Infinity become null.
            payload = _ENCODER.encode(self._envelope(event, event_id)) + b"\n"
        except RecursionError:
            report.dead_letter.append(DeadLetter(event_id, None, "too_deeply_nested: cannot be serialized as JSON"))
            return None
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            report.dead_letter.append(DeadLetter(event_id, None, f"cannot be serialized as JSON: {exc}"))
            return None
        if len(payload) > self.max_batch_bytes:
            reason = f"event is {len(payload):,} bytes, over max_batch_bytes={self.max_batch_bytes:,}"
            report.dead_letter.append(DeadLetter(event_id, None, reason))
            return None
        return Item(event_id, payload)

    def _envelope(self, event: Mapping[str, Any], event_id: str) -> dict[str, Any]:
        envelope: dict[str, Any] = {}
        if event.get("time") is not None:
            envelope["time"] = event["time"]
        if _METADATA.isdisjoint(event):  # the usual case: the client's own host, source, sourcetype, index
            envelope.update(self._metadata)
        else:
            for key, default in self._metadata_defaults:
                value = event.get(key, default)
                if value is not None:
                    envelope[key] = value
        if "event" in event:  # a missing event is the endpoint's to reject (code 12), not ours to invent
            envelope["event"] = event["event"]
        fields = event.get("fields")
        envelope["fields"] = {**dict(fields), "event_id": event_id} if fields else {"event_id": event_id}
        return envelope

    def encode(self, batch: Batch) -> bytes:
        if batch.body is None:
            raw = b"".join(item.payload for item in batch.items)
            batch.raw_size = len(raw)
            batch.body = gzip_codec.compress(raw, compresslevel=GZIP_LEVEL) if self.gzip else raw
        return batch.body

    # -- one request --------------------------------------------------------------------------------------

    def post(
        self, path: str, body: bytes, *, gzip: bool, channel: str, while_waiting: Callable[[], None] | None = None
    ) -> Response:
        headers = {
            "Authorization": _Sensitive(f"Splunk {self._token.reveal()}"),
            CHANNEL_HEADER: channel,
            "Content-Type": "application/json",
            "User-Agent": "eventpipe-hec",
        }
        if gzip:
            headers["Content-Encoding"] = "gzip"
        status, response_headers, data = self._connection.request(path, body, headers, while_waiting)
        text = self._redact(data.decode("utf-8", "replace"))
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        body_json = parsed if isinstance(parsed, dict) else {}
        return Response(status, body_json, body_json.get("text") or text[:200], retry_after(response_headers))

    def _redact(self, text: str) -> str:
        return redact(text, [self._token.reveal()])

    def backoff_delay(self, tries: int, after: float | None) -> float:
        return backoff(tries, after, base_s=self.backoff_base_s, max_s=self.backoff_max_s, rng=self._rng)

    def auth_error(self, response: Response) -> HecAuthError:
        return HecAuthError(
            f"HEC at {self.url} refused the token ({REDACTED}): HTTP {response.status}, "
            f"code {response.code} {response.text!r}",
            status=response.status,
            code=response.code,
        )
