"""A Splunk HEC-compatible receiver: the local stand-in for Splunk in embedded runs and tests.

It answers like HEC does (the codes, HTTP statuses and bodies of ``eventpipe.deliver.hec.CODES``), so that the client's
retry, dead-letter and acknowledgement logic is exercised against the protocol rather than against a mock:

- ``POST /services/collector/event`` (and ``/services/collector``): concatenated JSON objects, optionally gzip;
  a batch with one invalid event is rejected whole with ``invalid-event-number`` and nothing of it is written;
- ``POST /services/collector/raw``: minimal, one event per non-blank line;
- ``POST /services/collector/ack``: indexer acknowledgement per request channel;
- ``GET /services/collector/health``.

Accepted events are appended, as received, one JSON object a line, to ``out_dir/<index>.ndjson`` when the batch
is accepted (write on accept; ``Faults.ack_delay_s`` only delays when the acknowledgement turns true).

``Faults`` (``eventpipe.devtools.receivers.server``) injects what a real endpoint does under load (503 busy, 500,
latency, dropped connections, slow acks, a token revoked mid-run) from a seeded RNG, so a failing test run can be
replayed. A connection dropped *after* persisting is the case that makes retries produce duplicates; it is there
to measure that, not to hide it.

Tokens are secrets: they are never logged or printed, and ``repr`` shows only how many there are.

Bounded, whatever a client sends (``eventpipe.devtools.receivers.body``): the route and the token are checked on
the headers before any of the body is read; a body declared (or, chunked, read) over ``max_body_bytes`` is answered 413
unread; a gzip body is inflated at most to ``max_decompressed_bytes`` (a decompression bomb is answered 413 having
cost that much memory at most); JSON nested too deeply for the parser is invalid data (code 6), not an internal
error. Index names must match the whole pattern (no trailing newline).

The HTTP side is ``hec_http``, what a batch must be ``hec_events``, ``eventpipe hec-receiver`` ``hec_cli``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from eventpipe.deliver.hec import CHANNEL_HEADER, REDACTED, is_channel
from eventpipe.devtools.receivers.body import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECOMPRESSED_BYTES, BodyTooLarge
from eventpipe.devtools.receivers.hec_events import (
    TOO_LARGE,
    Reject,
    Request,
    Token,
    decode_body,
    fast_batch,
    hec_reply,
    index_allowed,
    parse_batch,
    validate,
)
from eventpipe.devtools.receivers.hec_http import HecHandler
from eventpipe.devtools.receivers.server import Faults, Reply, StandIn, read_ndjson

log = logging.getLogger(__name__)


@dataclass
class ReceiverStats:
    """What the receiver saw, for tests and the bench: answers by HTTP status and HEC code, and batch shapes."""

    by_status: Counter = field(default_factory=Counter)
    by_code: Counter = field(default_factory=Counter)
    by_endpoint: Counter = field(default_factory=Counter)
    dropped_before: int = 0
    dropped_after: int = 0
    dropped_after_events: int = 0
    batch_events: list[int] = field(default_factory=list)
    batch_wire_bytes: list[int] = field(default_factory=list)
    batch_bytes: list[int] = field(default_factory=list)
    events_written: int = 0

    def copy(self) -> ReceiverStats:
        return ReceiverStats(
            Counter(self.by_status),
            Counter(self.by_code),
            Counter(self.by_endpoint),
            self.dropped_before,
            self.dropped_after,
            self.dropped_after_events,
            list(self.batch_events),
            list(self.batch_wire_bytes),
            list(self.batch_bytes),
            self.events_written,
        )


class HecReceiver(StandIn):
    """A threaded HEC-compatible server. ``tokens``: ``{token: {"ack": bool, "indexes": [...] | None}}``.

    A token may also carry ``"default_index"`` (else its first index, else ``main``) and ``"disabled": True``.
    With ``indexes`` None any well-formed index name is accepted; with a list only those are (code 7 otherwise).
    """

    handler = HecHandler
    thread_name = "hec-receiver"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: dict[str, dict[str, Any]] | None = None,
        out_dir: Path | str | None = None,
        faults: Faults | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> None:
        if out_dir is None:
            from eventpipe import settings

            out_dir = settings.eventpipe_home() / "received" / "splunk"
        super().__init__(host, port, out_dir, faults, max_body_bytes, max_decompressed_bytes)
        self._tokens = {token: Token.from_config(config or {}) for token, config in (tokens or {}).items()}
        self._stats = ReceiverStats()
        self._acks: dict[str, dict[int, float]] = defaultdict(dict)  # channel -> ackId -> when it turns true
        self._next_ack: Counter[str] = Counter()
        self._token_uses: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"HecReceiver(url={self.url!r}, tokens={len(self._tokens)} x {REDACTED}, out_dir={str(self.out_dir)!r})"

    def stats(self) -> ReceiverStats:
        with self._lock:
            return self._stats.copy()

    def events(self) -> list[dict[str, Any]]:
        """Everything written so far (every write is flushed), in file (index) then arrival order."""
        return read_events(self.out_dir)

    # -- one request ------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Answer one request; any unexpected failure becomes code 8, as Splunk's own internal errors do."""
        try:
            reply = self._dispatch(request)
        except Reject as rejection:
            reply = rejection.reply()
        except BodyTooLarge:
            reply = Reply(413, dict(TOO_LARGE))
        except Exception:
            log.exception("HEC receiver failed on a %s request", request.endpoint)
            reply = hec_reply(8)
        self._count(request, reply)
        return reply

    def _dispatch(self, request: Request) -> Reply:
        if request.endpoint == "health":
            return hec_reply(17)
        faults = self.faults
        faulty = request.endpoint in faults.endpoints
        if faulty and faults.latency_s > 0:
            time.sleep(faults.latency_s)
        config = request.config or self._authenticate(request.headers)
        if faulty and faults.roll(faults.busy_rate):
            busy = hec_reply(9)
            busy.retry_after = faults.retry_after_s
            return busy
        if faulty and faults.roll(faults.error_rate):
            return hec_reply(8)
        drop = faults.drop_when if faulty and faults.roll(faults.drop_connection_rate) else None
        if drop == "before":
            return Reply(0, {}, dropped="before")
        handler = {"event": self._accept_events, "raw": self._accept_raw, "ack": self._answer_acks}[request.endpoint]
        reply = handler(request, config)
        reply.dropped = drop
        return reply

    def authenticate(self, request: Request) -> Reply | None:
        """Check the token on the headers alone (before the body is read): None and ``request.config`` set when it
        is accepted, else the answer (counted)."""
        try:
            request.config = self._authenticate(request.headers)
        except Reject as rejection:
            reply = rejection.reply()
            self._count(request, reply)
            return reply
        return None

    def refused(self, request: Request, reply: Reply) -> Reply:
        """Count an answer given without handling the request (a body over the limit)."""
        self._count(request, reply)
        return reply

    def _authenticate(self, headers: Message) -> Token:
        value = headers.get("Authorization")
        if value is None:
            raise Reject(2)
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "splunk" or not token:
            raise Reject(3)
        config = self._tokens.get(token)
        if config is None:
            raise Reject(4)
        with self._lock:
            self._token_uses[token] += 1
            uses = self._token_uses[token]
        limit = self.faults.revoke_token_after
        if config.disabled or (limit is not None and uses > limit):
            raise Reject(1)
        return config

    def _channel(self, request: Request, config: Token) -> str | None:
        """The request channel: required (code 10) when the token acknowledges, a GUID (code 11) when given."""
        channel = request.headers.get(CHANNEL_HEADER) or request.query.get("channel")
        if channel is None:
            if config.ack:
                raise Reject(10)
            return None
        if not is_channel(channel):
            raise Reject(11)
        return channel

    def _accept_events(self, request: Request, config: Token) -> Reply:
        channel = self._channel(request, config)
        text = decode_body(request)
        lines = fast_batch(text, config)
        if lines is not None:
            return self._write(lines, sum(map(len, lines.values())), config, channel, len(request.body), len(text))
        objects = parse_batch(text)
        for number, obj in enumerate(objects):
            validate(obj, config, number)
        return self._commit(objects, config, channel, len(request.body), len(text))

    def _accept_raw(self, request: Request, config: Token) -> Reply:
        channel = self._channel(request, config)
        text = decode_body(request)
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise Reject(5)
        query = request.query
        meta = {
            "time": round(time.time(), 3),
            "host": query.get("host", request.client),
            "source": query.get("source", "http:eventpipe"),
            "sourcetype": query.get("sourcetype", "httpevent"),
            "index": query.get("index") or config.default_index,
        }
        if not index_allowed(meta["index"], config):
            raise Reject(7)
        objects = [{**meta, "event": line} for line in lines]
        return self._commit(objects, config, channel, len(request.body), len(text))

    def _commit(
        self, objects: list[dict[str, Any]], config: Token, channel: str | None, wire_bytes: int, text_chars: int
    ) -> Reply:
        """Persist a whole accepted batch and allocate its ackId under one lock, so ackIds follow write order."""
        lines: dict[str, list[str]] = defaultdict(list)
        for obj in objects:
            index = obj.get("index") or config.default_index
            lines[index].append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        return self._write(lines, len(objects), config, channel, wire_bytes, text_chars)

    def _write(
        self,
        lines: dict[str, list[str]],
        count: int,
        config: Token,
        channel: str | None,
        wire_bytes: int,
        text_chars: int,
    ) -> Reply:
        reply = hec_reply(0)
        reply.events = count
        with self._lock:
            for index, index_lines in lines.items():
                self._written.append(index, "\n".join(index_lines) + "\n")
            stats = self._stats
            stats.events_written += count
            stats.batch_events.append(count)
            stats.batch_wire_bytes.append(wire_bytes)
            stats.batch_bytes.append(text_chars)
            if config.ack and channel is not None:
                ack_id = self._next_ack[channel]
                self._next_ack[channel] += 1
                self._acks[channel][ack_id] = time.monotonic() + self.faults.ack_delay_s
                reply.body["ackId"] = ack_id
        return reply

    def _answer_acks(self, request: Request, config: Token) -> Reply:
        """``{"acks": {"N": bool}}``. An ackId reported true is forgotten, as Splunk does: asking again says false."""
        if not config.ack:
            raise Reject(14)
        channel = self._channel(request, config)
        try:
            ids = json.loads(decode_body(request))["acks"]
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            raise Reject(6) from None
        now = time.monotonic()
        status: dict[str, bool] = {}
        with self._lock:
            pending = self._acks[channel]
            for ack_id in ids:
                ready_at = pending.get(ack_id)
                done = ready_at is not None and ready_at <= now
                if done:
                    del pending[ack_id]
                status[str(ack_id)] = done
        return Reply(200, {"acks": status})

    def _count(self, request: Request, reply: Reply) -> None:
        with self._lock:
            stats = self._stats
            stats.by_endpoint[request.endpoint] += 1
            if reply.dropped == "before":
                stats.dropped_before += 1
            elif reply.dropped == "after":
                stats.dropped_after += 1
                stats.dropped_after_events += reply.events
            else:
                stats.by_status[reply.status] += 1
                if "code" in reply.body:
                    stats.by_code[reply.body["code"]] += 1


def read_events(out_dir: Path | str) -> list[dict[str, Any]]:
    """Every event a receiver wrote under ``out_dir`` (all indexes), one dict per NDJSON line."""
    return [event for path in sorted(Path(out_dir).glob("*.ndjson")) for event in read_ndjson(path)]
