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
import http.client
import json
import logging
import random
import socket
import ssl
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import msgspec

from eventpipe.deliver.hec import CHANNEL_HEADER, INVALID_DATA_CODES, REDACTED, redact

log = logging.getLogger(__name__)

# Level 1: App Event JSON still shrinks ~15-20x, at a third of level 6's CPU (level 6 saves ~20% more bytes and
# was a tenth of the batched client's time in bench/hec.py).
GZIP_LEVEL = 1
ACK_QUERY_MAX_IDS = 1000
_ENCODER = msgspec.json.Encoder()
_METADATA = frozenset({"host", "source", "sourcetype", "index"})
MAX_PARKED = 4  # unanswered batches held back while later batches prove whether they landed


class HecError(Exception):
    """A send that cannot go on. ``report`` holds what was delivered (and dead-lettered) before it stopped."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.report: DeliveryReport | None = None


class HecAuthError(HecError):
    """401/403: the token is missing, wrong, disabled or revoked. Retrying cannot help; fail loudly."""


class HecProtocolError(HecError):
    """Client and endpoint disagree (channel, acknowledgement, an unexpected status): a configuration error."""


class HecUnavailableError(HecError):
    """Transient failures outlasted ``max_retries``; a later task retry may succeed."""


class DeadLetter(NamedTuple):
    """An event that was not delivered and must not be retried as is.

    ``code`` is the endpoint's HEC code (or HTTP status 413), or None when the client refused it before sending.
    """

    event_id: str
    code: int | None
    text: str


@dataclass
class DeliveryReport:
    """What one ``send`` did. Counts of events unless named otherwise."""

    delivered_ids: list[str] = field(default_factory=list)
    dead_letter: list[DeadLetter] = field(default_factory=list)
    attempts: int = 0  # POST requests to the event endpoint
    batches: int = 0  # batches cut from the input (before any split or resend)
    bytes_sent: int = 0  # request bodies as sent (gzip when on), every attempt
    bytes_raw: int = 0  # the same bodies uncompressed
    ack_ids: list[int] = field(default_factory=list)
    ack_polls: int = 0
    retries: Counter = field(default_factory=Counter)  # event-batch resends by cause
    ack_query_retries: Counter = field(default_factory=Counter)  # /ack requests repeated, by cause
    duplicates_sent: int = 0  # events the endpoint provably accepted more than once
    possible_duplicates: int = 0  # events resent while an earlier copy might have been accepted
    seconds: float = 0.0

    @property
    def delivered(self) -> int:
        return len(self.delivered_ids)

    def summary(self) -> str:
        retries = ", ".join(f"{cause} {n}" for cause, n in sorted(self.retries.items())) or "none"
        return (
            f"{self.delivered:,} delivered, {len(self.dead_letter):,} dead-lettered in {self.batches:,} batches "
            f"({self.attempts:,} requests, {self.bytes_sent:,} bytes, {self.seconds:.2f}s); retries: {retries}; "
            f"duplicates sent {self.duplicates_sent:,}, possible {self.possible_duplicates:,}"
        )


class _Item(NamedTuple):
    event_id: str
    payload: bytes


@dataclass(eq=False)
class _Batch:
    """A batch in flight. ``accepted`` / ``unknown`` count its copies the endpoint took / may have taken."""

    items: list[_Item]
    state: str = "queued"  # queued | limbo (answer lost, awaiting proof) | pending (awaiting ack) | done | dead
    tries: int = 0
    accepted: int = 0
    unknown: int = 0
    ack_ids: set[tuple[str, int]] = field(default_factory=set)  # (channel, ackId) of its accepted copies
    body: bytes | None = None
    raw_size: int = 0
    last_error: str = ""

    @property
    def ids(self) -> list[str]:
        return [item.event_id for item in self.items]


@dataclass
class _Response:
    status: int
    body: dict[str, Any]
    text: str
    retry_after: float | None

    @property
    def code(self) -> int | None:
        code = self.body.get("code")
        return code if isinstance(code, int) else None


class _NoAnswer(Exception):
    """The request got no HTTP answer. ``ambiguous``: it went out whole, so the endpoint may have acted on it."""

    def __init__(self, cause: str, ambiguous: bool, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause
        self.ambiguous = ambiguous


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


class _Connection:
    """One kept-alive HTTP(S) connection; a failed request drops it and the next one reconnects."""

    def __init__(self, scheme: str, netloc: str, timeout_s: float) -> None:
        self._scheme = scheme
        self._netloc = netloc
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, path: str, body: bytes, headers: dict[str, str], while_waiting: Callable[[], None] | None = None
    ) -> tuple[int, Any, bytes]:
        """POST and read the answer; ``while_waiting`` runs once the request is out, before the answer is read
        (it must not raise)."""
        conn = self._open()
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # the request did not go out whole: the endpoint cannot have acted on it
            raise _NoAnswer(_cause(exc), False, type(exc).__name__) from None
        if while_waiting is not None:
            while_waiting()
        try:
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise _NoAnswer(_cause(exc), True, type(exc).__name__) from None
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def _open(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(
                    self._netloc, timeout=self._timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(self._netloc, timeout=self._timeout_s)
            try:
                conn.connect()
                # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms a request.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                conn.close()
                raise _NoAnswer(_cause(exc), False, type(exc).__name__) from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _cause(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError) else "connection"


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
        self._own_channel = channel is None
        self.use_ack = use_ack
        self.max_batch_events, self.max_batch_bytes, self.gzip = max_batch_events, max_batch_bytes, gzip
        self.max_retries, self.backoff_base_s, self.backoff_max_s = max_retries, backoff_base_s, backoff_max_s
        self.ack_timeout_s, self.ack_poll_s, self.max_pending_acks = ack_timeout_s, ack_poll_s, max_pending_acks
        self._sleep, self._clock = sleep, clock
        self._rng = rng or random.Random()
        self._connection = _Connection(parts.scheme, netloc, timeout_s)
        # The last ackId seen on the channel. Tracked only on channels the client made up (they start at 0 on the
        # endpoint); one the caller passed may have history and other senders.
        self._last_ack_id: int | None = -1 if channel is None else None

    def _new_channel(self) -> None:
        self.channel = str(uuid.uuid4())
        self._last_ack_id = -1

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

    def send(self, events: Iterable[Mapping[str, Any]]) -> DeliveryReport:
        """Deliver ``{"event_id": str, "time": epoch seconds, "event": dict}`` items; see the module docstring.

        An item may also carry ``host``, ``source``, ``sourcetype``, ``index`` (overriding the client's) and
        ``fields`` (indexed fields; ``event_id`` is always added). Raises ``HecError`` subclasses with ``.report``.
        """
        delivery = _Delivery(self)
        try:
            delivery.run(events)
        except HecError as exc:
            exc.report = delivery.close()
            raise
        report = delivery.close()
        log.info("HEC delivery to %s: %s", self.url, report.summary())
        return report

    # -- building batches -------------------------------------------------------------------------------

    def _batches(self, events: Iterable[Mapping[str, Any]], report: DeliveryReport) -> Iterator[_Batch]:
        """Cut the input into batches within both bounds, lazily, so any number of events streams through."""
        items: list[_Item] = []
        size = 0
        for event in events:
            item = self._prepare(event, report)
            if item is None:
                continue
            if items and (len(items) >= self.max_batch_events or size + len(item.payload) > self.max_batch_bytes):
                yield _Batch(items)
                items, size = [], 0
            items.append(item)
            size += len(item.payload)
        if items:
            yield _Batch(items)

    def _prepare(self, event: Mapping[str, Any], report: DeliveryReport) -> _Item | None:
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
        return _Item(event_id, payload)

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

    def _encode(self, batch: _Batch) -> bytes:
        if batch.body is None:
            raw = b"".join(item.payload for item in batch.items)
            batch.raw_size = len(raw)
            batch.body = gzip_codec.compress(raw, compresslevel=GZIP_LEVEL) if self.gzip else raw
        return batch.body

    # -- one request --------------------------------------------------------------------------------------

    def _post(
        self, path: str, body: bytes, *, gzip: bool, channel: str, while_waiting: Callable[[], None] | None = None
    ) -> _Response:
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
        return _Response(status, body_json, body_json.get("text") or text[:200], _retry_after(response_headers))

    def _redact(self, text: str) -> str:
        return redact(text, self._token.reveal())

    def _backoff(self, tries: int, retry_after: float | None) -> float:
        """Full jitter (uniform up to an exponential ceiling), never shorter than the endpoint's Retry-After."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(tries - 1, 0))
        delay = self._rng.uniform(0, ceiling)
        return max(delay, retry_after) if retry_after is not None else delay

    def _auth_error(self, response: _Response) -> HecAuthError:
        return HecAuthError(
            f"HEC at {self.url} refused the token ({REDACTED}): HTTP {response.status}, "
            f"code {response.code} {response.text!r}",
            status=response.status,
            code=response.code,
        )


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _transient_cause(status: int) -> str | None:
    if status == 503:
        return "busy"
    if status == 429:
        return "throttled"
    if status >= 500:
        return "server_error"
    return None


class _Delivery:
    """The state of one ``send``: the work queue, unanswered requests, batches awaiting their ack."""

    def __init__(self, client: HecClient) -> None:
        self.client = client
        self.report = DeliveryReport()
        self.queue: deque[_Batch] = deque()
        self.unanswered: list[tuple[_Batch, str]] = []  # (batch, cause) of requests since the last ackId, in order
        self.pending: dict[tuple[str, int], tuple[_Batch, float]] = {}  # (channel, ackId) -> (batch, accepted at)
        self.suspects: list[_Batch] = []  # batches with more than one copy that may have landed
        self.started = client._clock()
        self.last_poll = self.started
        self.source: Iterator[_Batch] | None = None
        self.ahead: _Batch | None = None  # the next batch, prepared while the current one was in flight
        self.ahead_error: Exception | None = None

    def run(self, events: Iterable[Mapping[str, Any]]) -> None:
        self.source = self.client._batches(events, self.report)
        while (batch := self._next_batch()) is not None:
            self.report.batches += 1
            self.queue.append(batch)
            self._drain()
        self._finish()

    def _next_batch(self) -> _Batch | None:
        if self.ahead is not None:
            batch, self.ahead = self.ahead, None
            return batch
        if self.ahead_error is not None:
            error, self.ahead_error = self.ahead_error, None
            raise error
        return None if self.source is None else next(self.source, None)

    def _prepare_ahead(self) -> None:
        """While an event batch is with the endpoint: cut, serialize and gzip the next one (an error from the
        caller's iterable is kept and raised where that batch would have been taken)."""
        if self.ahead is not None or self.ahead_error is not None or self.source is None:
            return
        try:
            batch = next(self.source, None)
            if batch is None:
                self.source = None
                return
            self.client._encode(batch)
            self.ahead = batch
        except Exception as exc:
            self.ahead_error = exc
            self.source = None

    def close(self) -> DeliveryReport:
        """Fill in the duplicate counts from the batches that had extra copies, and the elapsed time."""
        report = self.report
        for batch in dict.fromkeys(self.suspects):
            report.duplicates_sent += len(batch.items) * max(0, batch.accepted - 1)
            report.possible_duplicates += len(batch.items) * max(0, batch.unknown)
        self.suspects = []
        report.seconds = self.client._clock() - self.started
        return report

    def _drain(self) -> None:
        while self.queue:
            batch = self.queue.popleft()
            if batch.state != "queued":
                continue  # proven accepted meanwhile, by the ackId sequence
            self._attempt(batch)
            if self.client.use_ack:
                self._poll_if_due()
                self._settle_acks(self.client.max_pending_acks - 1)

    def _finish(self) -> None:
        """Resolve what is left: unanswered batches go again (nothing comes after them to prove them), acks settle."""
        while True:
            self._drain()
            limbo = [batch for batch in dict.fromkeys(batch for batch, _ in self.unanswered) if batch.state == "limbo"]
            for batch in limbo:
                batch.state = "queued"
                self.queue.append(batch)
            if limbo:
                continue
            if self.pending:
                self._settle_acks(0)
            if not self.queue:
                return

    # -- event batches ----------------------------------------------------------------------------------

    def _attempt(self, batch: _Batch) -> None:
        client = self.client
        if batch.tries > client.max_retries:
            raise HecUnavailableError(
                f"HEC at {client.url}: gave up on a batch of {len(batch.items)} events after {batch.tries} "
                f"attempts (last: {batch.last_error})"
            )
        batch.tries += 1
        body = client._encode(batch)
        self.report.attempts += 1
        self.report.bytes_sent += len(body)
        self.report.bytes_raw += batch.raw_size
        channel = client.channel
        try:
            response = client._post(
                client.event_path, body, gzip=client.gzip, channel=channel, while_waiting=self._prepare_ahead
            )
        except _NoAnswer as failure:
            self._no_answer(batch, failure)
            return
        self._answered(batch, response, channel)

    def _no_answer(self, batch: _Batch, failure: _NoAnswer) -> None:
        client = self.client
        self.report.retries[failure.cause] += 1
        batch.last_error = f"{failure.cause} ({failure})"
        delay = client._backoff(batch.tries, None)
        log.warning(
            "HEC %s on a batch of %d events (attempt %d); retry in %.2fs",
            batch.last_error,
            len(batch.items),
            batch.tries,
            delay,
        )
        client._sleep(delay)
        if not failure.ambiguous:
            self.queue.appendleft(batch)
            return
        batch.unknown += 1
        self.suspects.append(batch)
        if not client.use_ack or client._last_ack_id is None:
            self.queue.appendleft(batch)
            return
        # The next accepted request's ackId will say whether this one landed. Park it and send the next batch
        # first, unless enough are parked already (an endpoint resetting everything): then resend it now.
        self.unanswered.append((batch, failure.cause))
        if sum(1 for parked, _ in self.unanswered if parked.state == "limbo") < MAX_PARKED:
            batch.state = "limbo"
        else:
            self.queue.appendleft(batch)

    def _answered(self, batch: _Batch, response: _Response, channel: str) -> None:
        client = self.client
        status, code = response.status, response.code
        if status == 200 and code in (0, None):
            self._accepted(batch, response, channel)
        elif status in (401, 403):
            raise client._auth_error(response)
        elif (status == 400 and code in INVALID_DATA_CODES) or status == 413:
            self._split(batch, response)
        elif cause := _transient_cause(status):
            self.report.retries[cause] += 1
            batch.last_error = f"HTTP {status} code {code} {response.text!r}"
            delay = client._backoff(batch.tries, response.retry_after)
            log.warning("HEC %s (attempt %d); retry in %.2fs", batch.last_error, batch.tries, delay)
            client._sleep(delay)
            self.queue.appendleft(batch)
        else:
            raise HecProtocolError(
                f"HEC at {client.url} answered HTTP {status}, code {code} {response.text!r}", status=status, code=code
            )

    def _accepted(self, batch: _Batch, response: _Response, channel: str) -> None:
        client = self.client
        if not client.use_ack:
            self._register(batch, None)
            return
        ack_id = response.body.get("ackId")
        if not isinstance(ack_id, int):
            raise HecProtocolError(
                f"HEC at {client.url} returned no ackId with use_ack=True: the token has indexer acknowledgement off"
            )
        resolved = self._resolve_unanswered(channel, ack_id)
        self._register(batch, (channel, ack_id))
        if client._own_channel:
            client._last_ack_id = ack_id
            if resolved:
                client._new_channel()  # a straggler of those requests must not shift the next count

    def _resolve_unanswered(self, channel: str, ack_id: int) -> bool:
        """Use the gap in the ackId sequence to tell whether unanswered requests landed (module docstring)."""
        records, self.unanswered = self.unanswered, []
        if not records:
            return False
        last = self.client._last_ack_id
        gap = None if last is None else ack_id - last - 1
        if gap == 0:
            for batch, cause in reversed(records):
                if cause != "timeout":  # reset: the endpoint is done and did not take it; a timeout may still land
                    batch.unknown -= 1
                self._requeue(batch)
        elif gap == len(records):
            for offset, (batch, _) in enumerate(records):
                batch.unknown -= 1
                self._register(batch, (channel, last + 1 + offset))
        else:
            log.warning(
                "HEC ackId %s after %s: %d unanswered requests cannot be told apart; resending them",
                ack_id,
                last,
                len(records),
            )
            for batch, _ in reversed(records):
                self._requeue(batch)
        return True

    def _requeue(self, batch: _Batch) -> None:
        if batch.state == "limbo":
            batch.state = "queued"
            self.queue.appendleft(batch)

    def _register(self, batch: _Batch, ack: tuple[str, int] | None) -> None:
        """One more copy of ``batch`` is accepted; without ack that is delivery, with ack it awaits its ack."""
        batch.accepted += 1
        if batch.accepted > 1:
            self.suspects.append(batch)
        if batch.state in ("done", "dead"):
            return
        if ack is None:
            self._delivered(batch)
            return
        batch.state = "pending"
        batch.ack_ids.add(ack)
        self.pending[ack] = (batch, self.client._clock())
        self.report.ack_ids.append(ack[1])

    def _delivered(self, batch: _Batch) -> None:
        batch.state = "done"
        self.report.delivered_ids.extend(batch.ids)
        for ack in batch.ack_ids:
            self.pending.pop(ack, None)
        batch.ack_ids.clear()
        batch.body = None  # nothing will resend it: let the bytes go

    def _split(self, batch: _Batch, response: _Response) -> None:
        """Isolate the events the endpoint refuses; only an event refused on its own is dead-lettered."""
        code = response.code if response.status == 400 else response.status
        items = batch.items
        batch.state = "dead"
        if len(items) == 1:
            self.report.dead_letter.append(DeadLetter(items[0].event_id, code, response.text))
            log.warning("HEC dead-lettered event %s: code %s %s", items[0].event_id, code, response.text)
            return
        number = response.body.get("invalid-event-number")
        if response.status == 400 and isinstance(number, int) and 0 <= number < len(items):
            parts = [items[:number], items[number : number + 1], items[number + 1 :]]
        else:
            middle = len(items) // 2
            parts = [items[:middle], items[middle:]]
        for part in reversed(parts):
            if part:
                self.queue.appendleft(_Batch(part))

    # -- acknowledgements -------------------------------------------------------------------------------

    def _poll_if_due(self) -> None:
        if self.pending and self.client._clock() - self.last_poll >= self.client.ack_poll_s:
            self._poll()

    def _settle_acks(self, limit: int) -> None:
        """Poll until at most ``limit`` ackIds are outstanding; timed-out batches are queued to go again."""
        while len(self.pending) > limit:
            wait = self.last_poll + self.client.ack_poll_s - self.client._clock()
            if wait > 0:
                self.client._sleep(wait)
            self._poll()

    def _poll(self) -> None:
        by_channel: dict[str, list[int]] = {}
        for channel, ack_id in sorted(self.pending):
            by_channel.setdefault(channel, []).append(ack_id)
        for channel, ack_ids in by_channel.items():
            for start in range(0, len(ack_ids), ACK_QUERY_MAX_IDS):
                for key, done in self._query(channel, ack_ids[start : start + ACK_QUERY_MAX_IDS]).items():
                    entry = self.pending.get((channel, int(key))) if done is True and str(key).isdigit() else None
                    if entry is not None:
                        self._delivered(entry[0])
        self.report.ack_polls += 1
        self.last_poll = self.client._clock()
        self._expire()

    def _expire(self) -> None:
        now = self.client._clock()
        for ack, (batch, accepted_at) in list(self.pending.items()):
            if now - accepted_at < self.client.ack_timeout_s:
                continue
            del self.pending[ack]
            batch.ack_ids.discard(ack)
            batch.accepted -= 1  # that copy may or may not have been indexed
            batch.unknown += 1
            self.suspects.append(batch)
            if not batch.ack_ids:
                self.report.retries["ack_timeout"] += 1
                log.warning("HEC ackId %d not acknowledged in %.1fs; resending its batch", ack[1], now - accepted_at)
                batch.state = "queued"
                self.queue.append(batch)

    def _query(self, channel: str, ack_ids: list[int]) -> dict[str, Any]:
        """One ``/ack`` question, retried on transient failures (asking twice is harmless)."""
        client = self.client
        body = json.dumps({"acks": ack_ids}).encode()
        for tries in range(1, client.max_retries + 2):
            try:
                response = client._post(client.ack_path, body, gzip=False, channel=channel)
            except _NoAnswer as failure:
                cause, retry_after, detail = failure.cause, None, f"{failure.cause} ({failure})"
            else:
                if response.status == 200:
                    acks = response.body.get("acks")
                    return acks if isinstance(acks, dict) else {}
                if response.status in (401, 403):
                    raise client._auth_error(response)
                cause = _transient_cause(response.status)
                if cause is None:
                    raise HecProtocolError(
                        f"HEC at {client.url} refused an ack query: HTTP {response.status}, code {response.code} "
                        f"{response.text!r}",
                        status=response.status,
                        code=response.code,
                    )
                retry_after, detail = response.retry_after, f"HTTP {response.status} {response.text!r}"
            self.report.ack_query_retries[cause] += 1
            client._sleep(client._backoff(tries, retry_after))
        raise HecUnavailableError(f"HEC at {client.url}: ack queries failed {client.max_retries + 1} times ({detail})")
