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

``Faults`` injects what a real endpoint does under load (503 busy, 500, latency, dropped connections, slow acks,
a token revoked mid-run) from a seeded RNG, so a failing test run can be replayed. A connection dropped *after*
persisting is the case that makes retries produce duplicates; it is there to measure that, not to hide it.

Tokens are secrets: they are never logged or printed, and ``repr`` shows only how many there are.

Bounded, whatever a client sends (``eventpipe.devtools.receivers.body``): the route and the token are checked on
the headers before any of the body is read; a body declared (or, chunked, read) over ``max_body_bytes`` is answered 413
unread; a gzip body is inflated at most to ``max_decompressed_bytes`` (a decompression bomb is answered 413 having
cost that much memory at most); JSON nested too deeply for the parser is invalid data (code 6), not an internal
error. Index names must match the whole pattern (no trailing newline).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import msgspec

from eventpipe.deliver.hec import (
    ACK_PATHS,
    CHANNEL_HEADER,
    CODES,
    EVENT_PATHS,
    HEALTH_PATHS,
    RAW_PATHS,
    REDACTED,
    TOKEN_ENV,
    is_channel,
)
from eventpipe.devtools.receivers.body import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    BodyTooLarge,
    BodyUnreadable,
    check_length,
    finish_unread,
    gunzip,
    read_body,
)

log = logging.getLogger(__name__)

_POST_ROUTES = {
    **dict.fromkeys(EVENT_PATHS, "event"),
    **dict.fromkeys(RAW_PATHS, "raw"),
    **dict.fromkeys(ACK_PATHS, "ack"),
}
_GET_ROUTES = dict.fromkeys(HEALTH_PATHS, "health")
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")  # fullmatch: "main\n" is not an index name
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_NOT_FOUND = {"text": "The requested URL was not found on this server.", "code": 404}
_TOO_LARGE = {"text": "Content too large"}


class _FastObject(msgspec.Struct):
    """The HEC object fields the fast path checks; ``event`` stays raw JSON, unknown keys are ignored."""

    event: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    time: int | float | str | msgspec.UnsetType = msgspec.UNSET
    host: str | msgspec.UnsetType = msgspec.UNSET
    source: str | msgspec.UnsetType = msgspec.UNSET
    sourcetype: str | msgspec.UnsetType = msgspec.UNSET
    index: str | msgspec.UnsetType | None = msgspec.UNSET
    fields: dict[str, str | int | float | list[str | int | float]] | msgspec.UnsetType = msgspec.UNSET


_FAST_DECODER = msgspec.json.Decoder(_FastObject)


@dataclass
class Faults:
    """Failure injection, drawn from one seeded RNG so a run replays; safe to change while serving (``update``).

    Rates are probabilities per request to the ``endpoints`` named ("event", "raw", "ack"). ``drop_when`` says
    whether a dropped connection loses the batch ("before" persisting: a retry is safe) or keeps it ("after": the
    sender saw no answer but the events are in, so its retry duplicates them).
    """

    busy_rate: float = 0.0
    retry_after_s: int | None = None
    error_rate: float = 0.0
    latency_s: float = 0.0
    drop_connection_rate: float = 0.0
    drop_when: str = "before"
    ack_delay_s: float = 0.0
    revoke_token_after: int | None = None
    endpoints: frozenset[str] = frozenset({"event", "raw", "ack"})
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.drop_when not in ("before", "after"):
            raise ValueError(f"drop_when must be 'before' or 'after', not {self.drop_when!r}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def update(self, **changes: Any) -> None:
        """Change faults while the receiver serves (a burst of 503s, then calm), atomically for a request."""
        with self._lock:
            for name, value in changes.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise AttributeError(f"Faults has no setting {name!r}")
                setattr(self, name, value)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``; one lock so concurrent requests still draw a reproducible sequence."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate


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


@dataclass(frozen=True)
class _Token:
    ack: bool = False
    indexes: tuple[str, ...] | None = None
    default_index: str = "main"
    disabled: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Token:
        indexes = config.get("indexes")
        indexes = tuple(indexes) if indexes is not None else None
        default = config.get("default_index") or (indexes[0] if indexes else "main")
        return cls(bool(config.get("ack")), indexes, default, bool(config.get("disabled")))


@dataclass
class _Request:
    endpoint: str
    headers: Message
    query: dict[str, str]
    body: bytes
    client: str
    config: _Token | None = None  # the token's, when it was checked before the body was read
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    retry_after: int | None = None
    dropped: str | None = None  # "before" / "after" persisting: the connection is reset, nothing is answered
    events: int = 0


class _Reject(Exception):
    """A HEC error answer, raised from deep in validation and turned into the reply in one place."""

    def __init__(self, code: int, event_number: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.event_number = event_number

    def reply(self) -> _Reply:
        extra = {} if self.event_number is None else {"invalid-event-number": self.event_number}
        return _reply(self.code, **extra)


def _reply(code: int, **extra: Any) -> _Reply:
    status, text = CODES[code]
    return _Reply(status, {"text": text, "code": code, **extra})


class HecReceiver:
    """A threaded HEC-compatible server. ``tokens``: ``{token: {"ack": bool, "indexes": [...] | None}}``.

    A token may also carry ``"default_index"`` (else its first index, else ``main``) and ``"disabled": True``.
    With ``indexes`` None any well-formed index name is accepted; with a list only those are (code 7 otherwise).
    """

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
        self.host = host
        self.port = port
        self.out_dir = Path(out_dir)
        self.faults = faults or Faults()
        self.max_body_bytes, self.max_decompressed_bytes = max_body_bytes, max_decompressed_bytes
        self._tokens = {token: _Token.from_config(config or {}) for token, config in (tokens or {}).items()}
        self._lock = threading.Lock()
        self._stats = ReceiverStats()
        self._files: dict[str, TextIO] = {}
        self._acks: dict[str, dict[int, float]] = defaultdict(dict)  # channel -> ackId -> when it turns true
        self._next_ack: Counter[str] = Counter()
        self._token_uses: Counter[str] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"HecReceiver(url={self.url!r}, tokens={len(self._tokens)} x {REDACTED}, out_dir={str(self.out_dir)!r})"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HecReceiver:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hec-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut kept-alive connections, so a stopped receiver really accepts nothing more."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()

    def __enter__(self) -> HecReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> ReceiverStats:
        with self._lock:
            return self._stats.copy()

    def events(self) -> list[dict[str, Any]]:
        """Everything written so far (every write is flushed), in file (index) then arrival order."""
        return read_events(self.out_dir)

    # -- one request ------------------------------------------------------------------------------------

    def handle(self, request: _Request) -> _Reply:
        """Answer one request; any unexpected failure becomes code 8, as Splunk's own internal errors do."""
        try:
            reply = self._dispatch(request)
        except _Reject as rejection:
            reply = rejection.reply()
        except BodyTooLarge:
            reply = _Reply(413, dict(_TOO_LARGE))
        except Exception:
            log.exception("HEC receiver failed on a %s request", request.endpoint)
            reply = _reply(8)
        self._count(request, reply)
        return reply

    def _dispatch(self, request: _Request) -> _Reply:
        if request.endpoint == "health":
            return _reply(17)
        faults = self.faults
        faulty = request.endpoint in faults.endpoints
        if faulty and faults.latency_s > 0:
            time.sleep(faults.latency_s)
        config = request.config or self._authenticate(request.headers)
        if faulty and faults.roll(faults.busy_rate):
            busy = _reply(9)
            busy.retry_after = faults.retry_after_s
            return busy
        if faulty and faults.roll(faults.error_rate):
            return _reply(8)
        drop = faults.drop_when if faulty and faults.roll(faults.drop_connection_rate) else None
        if drop == "before":
            return _Reply(0, {}, dropped="before")
        handler = {"event": self._accept_events, "raw": self._accept_raw, "ack": self._answer_acks}[request.endpoint]
        reply = handler(request, config)
        reply.dropped = drop
        return reply

    def authenticate(self, request: _Request) -> _Reply | None:
        """Check the token on the headers alone (before the body is read): None and ``request.config`` set when it
        is accepted, else the answer (counted)."""
        try:
            request.config = self._authenticate(request.headers)
        except _Reject as rejection:
            reply = rejection.reply()
            self._count(request, reply)
            return reply
        return None

    def refused(self, request: _Request, reply: _Reply) -> _Reply:
        """Count an answer given without handling the request (a body over the limit)."""
        self._count(request, reply)
        return reply

    def _authenticate(self, headers: Message) -> _Token:
        value = headers.get("Authorization")
        if value is None:
            raise _Reject(2)
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "splunk" or not token:
            raise _Reject(3)
        config = self._tokens.get(token)
        if config is None:
            raise _Reject(4)
        with self._lock:
            self._token_uses[token] += 1
            uses = self._token_uses[token]
        limit = self.faults.revoke_token_after
        if config.disabled or (limit is not None and uses > limit):
            raise _Reject(1)
        return config

    def _channel(self, request: _Request, config: _Token) -> str | None:
        """The request channel: required (code 10) when the token acknowledges, a GUID (code 11) when given."""
        channel = request.headers.get(CHANNEL_HEADER) or request.query.get("channel")
        if channel is None:
            if config.ack:
                raise _Reject(10)
            return None
        if not is_channel(channel):
            raise _Reject(11)
        return channel

    def _accept_events(self, request: _Request, config: _Token) -> _Reply:
        channel = self._channel(request, config)
        text = _decode_body(request)
        lines = self._fast_batch(text, config)
        if lines is not None:
            return self._write(lines, sum(map(len, lines.values())), config, channel, len(request.body), len(text))
        objects = _parse_batch(text)
        for number, obj in enumerate(objects):
            self._validate(obj, config, number)
        return self._commit(objects, config, channel, len(request.body), len(text))

    def _accept_raw(self, request: _Request, config: _Token) -> _Reply:
        channel = self._channel(request, config)
        text = _decode_body(request)
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise _Reject(5)
        query = request.query
        meta = {
            "time": round(time.time(), 3),
            "host": query.get("host", request.client),
            "source": query.get("source", "http:eventpipe"),
            "sourcetype": query.get("sourcetype", "httpevent"),
            "index": query.get("index") or config.default_index,
        }
        if not self._index_allowed(meta["index"], config):
            raise _Reject(7)
        objects = [{**meta, "event": line} for line in lines]
        return self._commit(objects, config, channel, len(request.body), len(text))

    def _validate(self, obj: dict[str, Any], config: _Token, number: int) -> None:
        """Splunk's per-event checks, in its order of precedence; ``number`` is the event's 0-based position."""
        if "event" not in obj:
            raise _Reject(12, number)
        event = obj["event"]
        if event is None or (isinstance(event, str) and not event.strip()):
            raise _Reject(13, number)
        if any(key in obj and not isinstance(obj[key], str) for key in ("host", "source", "sourcetype")):
            raise _Reject(6, number)
        if "time" in obj and not _is_epoch(obj["time"]):
            raise _Reject(6, number)
        if not self._index_allowed(obj.get("index"), config):
            raise _Reject(7, number)
        if "fields" in obj and not _flat_fields(obj["fields"]):
            raise _Reject(15, number)

    def _fast_batch(self, text: str, config: _Token) -> dict[str, list[str]] | None:
        """The common case, fast: one valid event object a line (what eventpipe's client sends).

        Each line is decoded on its own (so a line holding two objects, or an object spread over lines, is not this
        case), with the ``event`` value left undecoded, and written as received. Anything unusual (a blank or
        null event, a wrong type, an index not allowed, bad JSON) returns None: the exact path (``_parse_batch`` +
        ``_validate``) then finds the code and the event number, so answers are the same either way.
        """
        lines: dict[str, list[str]] = defaultdict(list)
        indexes: dict[Any, bool] = {}
        for line in text.split("\n"):
            line = line.strip(" \t\r")
            if not line:
                continue
            if line[0] != "{" or line[-1] != "}":
                return None
            try:
                obj = _FAST_DECODER.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                return None
            event = obj.event
            if event is msgspec.UNSET:
                return None
            first = memoryview(event)[:1].tobytes()
            if first == b"n" or (first == b'"' and not msgspec.json.decode(event).strip()):
                return None  # null, or a blank string: code 13 on the exact path
            if isinstance(obj.time, str) and not _is_epoch(obj.time):
                return None
            index = obj.index if obj.index is not msgspec.UNSET else None
            allowed = indexes.get(index)
            if allowed is None:
                allowed = indexes[index] = self._index_allowed(index, config)
            if not allowed:
                return None
            lines[index or config.default_index].append(line)
        return lines or None

    def _index_allowed(self, index: Any, config: _Token) -> bool:
        if index is None or index == "":
            return True
        if not isinstance(index, str) or not _INDEX_NAME.fullmatch(index):
            return False
        return config.indexes is None or index in config.indexes or index == config.default_index

    def _commit(
        self, objects: list[dict[str, Any]], config: _Token, channel: str | None, wire_bytes: int, text_chars: int
    ) -> _Reply:
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
        config: _Token,
        channel: str | None,
        wire_bytes: int,
        text_chars: int,
    ) -> _Reply:
        reply = _reply(0)
        reply.events = count
        with self._lock:
            for index, index_lines in lines.items():
                handle = self._file(index)
                handle.write("\n".join(index_lines) + "\n")
                handle.flush()
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

    def _file(self, index: str) -> TextIO:
        handle = self._files.get(index)
        if handle is None or handle.closed:
            handle = self._files[index] = (self.out_dir / f"{index}.ndjson").open("a", encoding="utf-8")
        return handle

    def _answer_acks(self, request: _Request, config: _Token) -> _Reply:
        """``{"acks": {"N": bool}}``. An ackId reported true is forgotten, as Splunk does: asking again says false."""
        if not config.ack:
            raise _Reject(14)
        channel = self._channel(request, config)
        try:
            ids = json.loads(_decode_body(request))["acks"]
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            raise _Reject(6) from None
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
        return _Reply(200, {"acks": status})

    def _count(self, request: _Request, reply: _Reply) -> None:
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


def _parse_batch(text: str) -> list[dict[str, Any]]:
    """Concatenated JSON objects (whitespace between allowed, no array) -> list; code 5 if empty, 6 if not objects."""
    objects: list[dict[str, Any]] = []
    position, end = 0, len(text)
    while True:
        position = _JSON_SPACE.match(text, position).end()
        if position >= end:
            break
        try:
            obj, position = _DECODER.raw_decode(text, position)
        except (json.JSONDecodeError, RecursionError):  # nested too deeply to parse is invalid data too
            raise _Reject(6, len(objects)) from None
        if not isinstance(obj, dict):
            raise _Reject(6, len(objects))
        objects.append(obj)
    if not objects:
        raise _Reject(5)
    return objects


def _decode_body(request: _Request) -> str:
    body = request.body
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if encoding == "gzip":
        try:
            body = gunzip(body, request.max_decompressed_bytes)  # BodyTooLarge: answered 413
        except ValueError:
            raise _Reject(6) from None
    elif encoding not in ("", "identity"):
        raise _Reject(6)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Reject(6) from None


def _is_epoch(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _flat_fields(fields: Any) -> bool:
    """Indexed fields must be a flat object: string or number values, or lists of them (else code 15)."""

    def scalar(value: Any) -> bool:
        return isinstance(value, str | int | float) and not isinstance(value, bool)

    if not isinstance(fields, dict):
        return False
    return all(scalar(v) or (isinstance(v, list) and all(scalar(i) for i in v)) for v in fields.values())


def read_events(out_dir: Path | str) -> list[dict[str, Any]]:
    """Every event a receiver wrote under ``out_dir`` (all indexes), one dict per NDJSON line."""
    events = []
    for path in sorted(Path(out_dir).glob("*.ndjson")):
        with path.open(encoding="utf-8") as handle:
            events.extend(json.loads(line) for line in handle if line.strip())
    return events


# -- HTTP plumbing ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as HEC senders expect
    server_version = "eventpipe-hec"
    sys_version = ""
    timeout = 60  # an idle kept-alive connection is closed after this long
    disable_nagle_algorithm = True  # headers and body are two writes; Nagle + delayed ACK would add ~40 ms each
    server: _Server

    def do_POST(self) -> None:
        self._serve(_POST_ROUTES)

    def do_GET(self) -> None:
        self._serve(_GET_ROUTES)

    def _serve(self, routes: dict[str, str]) -> None:
        """Route, then token, then size, all on the headers; only then is the body read (at most the limit)."""
        receiver = self.server.receiver
        url = urlsplit(self.path)
        endpoint = routes.get(url.path.rstrip("/"))
        if endpoint is None:
            self._send_unread(_Reply(404, dict(_NOT_FOUND)))
            return
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        request = _Request(endpoint, self.headers, query, b"", self.client_address[0])
        request.max_decompressed_bytes = receiver.max_decompressed_bytes
        if endpoint != "health":
            refusal = receiver.authenticate(request)
            if refusal is not None:
                self._send_unread(refusal)
                return
        try:
            check_length(self.headers, receiver.max_body_bytes)
            request.body = read_body(self.rfile, self.headers, receiver.max_body_bytes)
        except BodyTooLarge:
            self._send_unread(receiver.refused(request, _Reply(413, dict(_TOO_LARGE))))
            return
        except BodyUnreadable:
            self._send_unread(receiver.refused(request, _reply(6)))
            return
        reply = receiver.handle(request)
        if reply.dropped:
            self._reset()
        else:
            self._send(reply)

    def _send_unread(self, reply: _Reply) -> None:
        """Answer a request whose body is left unread, then close the connection (the body cannot be skipped)."""
        self.close_connection = True
        self._send(reply, close=True)
        with contextlib.suppress(OSError):
            self.wfile.flush()
        finish_unread(self.connection)

    def _send(self, reply: _Reply, close: bool = False) -> None:
        payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Close without answering, with a TCP reset: the sender cannot know whether the batch landed."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: no query string, no headers, so nothing secret reaches the log.
        log.debug("HEC %s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("HEC receiver: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: HecReceiver) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Typically a sender that gave up (timeout) before its answer was written: a debug line, not a traceback.
        log.debug("HEC receiver: connection from %s ended abruptly", client_address[0], exc_info=True)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


# -- command line -------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventpipe hec-receiver",
        description="A local Splunk HEC-compatible receiver; writes what it accepts to <out-dir>/<index>.ndjson.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port (printed)")
    parser.add_argument(
        "--token", help=f"accepted token; prefer the {TOKEN_ENV} environment variable (command lines are visible)"
    )
    parser.add_argument("--ack", action="store_true", help="the token uses indexer acknowledgement")
    parser.add_argument("--index", action="append", help="an index the token may write to (repeat; default: any)")
    parser.add_argument("--out-dir", type=Path, help="default: $EVENTPIPE_HOME/received/splunk")
    parser.add_argument("--busy-rate", type=float, default=0.0, help="fraction of requests answered 503 (code 9)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500 (code 8)")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections reset unanswered")
    parser.add_argument("--drop-when", choices=("before", "after"), default="before")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--ack-delay", type=float, default=0.0, help="seconds before an ackId reports true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger bodies are answered 413, unread"
    )
    parser.add_argument(
        "--max-decompressed-bytes",
        type=int,
        default=DEFAULT_MAX_DECOMPRESSED_BYTES,
        help="a gzip body inflating past this is answered 413",
    )
    return parser


def serve(argv: list[str] | None = None) -> int:
    """``eventpipe hec-receiver``: serve until interrupted. The token comes from the environment by default."""
    args = _parser().parse_args(argv)
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"hec-receiver: no token; set {TOKEN_ENV} (or --token)", file=sys.stderr)
        return 2
    faults = Faults(
        busy_rate=args.busy_rate,
        error_rate=args.error_rate,
        drop_connection_rate=args.drop_rate,
        drop_when=args.drop_when,
        latency_s=args.latency,
        ack_delay_s=args.ack_delay,
        seed=args.seed,
    )
    tokens = {token: {"ack": args.ack, "indexes": args.index}}
    stop = threading.Event()
    _on_signals(stop)
    with HecReceiver(
        args.host,
        args.port,
        tokens,
        args.out_dir,
        faults,
        max_body_bytes=args.max_body_bytes,
        max_decompressed_bytes=args.max_decompressed_bytes,
    ) as receiver:
        source = "--token" if args.token else TOKEN_ENV
        print(
            f"HEC receiver on {receiver.url} (token {REDACTED} from {source}, ack {'on' if args.ack else 'off'}), "
            f"writing {receiver.out_dir}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass
    return 0


def _on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())


if __name__ == "__main__":
    sys.exit(serve())
