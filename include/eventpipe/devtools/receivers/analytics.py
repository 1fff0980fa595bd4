"""Local stand-ins for Heap's bulk track API and GA4's Measurement Protocol: small real HTTP servers.

They check what the real services document (and what our clients must enforce before sending), and write what
they accept, one JSON object a line, under ``out_dir``:

- ``HeapReceiver``: ``POST /api/track`` ``{app_id, events}``: 1 to 1,000 events, each with ``identity`` (<= 255
  characters), ``event`` (<= 1,024), ``timestamp`` (ISO-8601), ``idempotency_key`` and flat ``properties`` (names
  <= 512, values <= 1,024). A request that breaks a rule is refused whole with 400 and nothing is written (as Heap
  does). Accepted events go to ``<out_dir>/<app_id>.ndjson`` every time they arrive (a resend is written again, so
  tests see duplicates; Heap itself would keep one per ``idempotency_key``).
- ``Ga4Receiver``: ``POST /mp/collect`` and ``/debug/mp/collect`` with ``measurement_id`` and ``api_secret`` in
  the query: at most 25 events, ``client_id`` required, names ``^[A-Za-z][A-Za-z0-9_]{0,39}$`` and not reserved,
  at most 25 params, param values strings <= 100 characters or numbers. ``/mp/collect`` answers 204 whatever the
  payload, as GA4 does, writing valid events to ``<out_dir>/<measurement_id>.ndjson`` and invalid requests to
  ``<out_dir>/invalid.ndjson``; ``/debug/mp/collect`` answers ``{"validationMessages": [...]}`` and writes nothing.
  Unlike GA4 (which answers 2xx to a wrong ``api_secret``), the stand-in answers 403, so that a misconfigured local
  run fails loudly.

Both take ``eventpipe.devtools.receivers.server.Faults`` (503 bursts with Retry-After, 500s, latency, dropped
connections).

Both are bounded like the HEC receiver (``eventpipe.devtools.receivers.body``): the path and GA4's ``measurement_id`` /
``api_secret`` are checked before the body is read; a body over ``max_body_bytes`` (declared, or read chunked) is
answered 413 unread; a gzip body (``Content-Encoding: gzip``) is inflated at most to ``max_decompressed_bytes``
(413 past it, 400 when corrupt); JSON nested too deeply to parse is a 400, not a crash. They answer
``application/json`` (an empty body when there is none) and log nothing: GA4's query string carries its api_secret.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from eventpipe.deliver import ga4, heap
from eventpipe.devtools.receivers.body import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    BodyTooLarge,
    BodyUnreadable,
    gunzip,
    read_body,
)
from eventpipe.devtools.receivers.server import Faults, Handler, Reply, StandIn


class _StandIn(StandIn):
    """Heap's and GA4's common part: fault injection, JSON bodies, per-status counts; subclasses answer ``route``."""

    endpoint = "stand-in"

    def __init__(
        self,
        out_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ):
        super().__init__(host, port, out_dir, faults, max_body_bytes, max_decompressed_bytes)
        self.stats: Counter = Counter()

    @property
    def thread_name(self) -> str:
        return self.endpoint

    @property
    def handler(self) -> type[Handler]:
        return _Handler  # defined below

    def handle(self, path: str, query: dict[str, str], body: bytes) -> Reply:
        faults = self.faults  # one endpoint here: Faults.endpoints does not apply
        if faults.latency_s > 0:
            time.sleep(faults.latency_s)
        if faults.roll(faults.busy_rate):
            return Reply(503, {"error": "busy"}, retry_after=faults.retry_after_s)
        if faults.roll(faults.error_rate):
            return Reply(500, {"error": "internal error"})
        drop = faults.roll(faults.drop_connection_rate)
        if drop and faults.drop_when == "before":
            return Reply(0, dropped="before")
        try:
            document = json.loads(body) if body else None
        except (ValueError, RecursionError):  # nested too deeply to parse is not JSON this endpoint takes
            return Reply(400, {"error": "body is not JSON"})
        reply = self.route(path, query, document)
        if drop:  # "after": the request was acted on, the answer is lost
            reply = Reply(0, dropped="after")
        with self._lock:
            self.stats[reply.status] += 1
        return reply

    def route(self, path: str, query: dict[str, str], document: Any) -> Reply:
        raise NotImplementedError

    def precheck(self, path: str, query: dict[str, str]) -> Reply | None:
        """The answer to a request refused on its path or credential alone (its body is never read), or None."""
        return None

    def count(self, reply: Reply) -> Reply:
        with self._lock:
            self.stats[reply.status] += 1
        return reply

    def write(self, name: str, records: list[dict[str, Any]]) -> None:
        self._written.append(
            name, "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        )


class HeapReceiver(_StandIn):
    endpoint = "heap"

    def __init__(self, out_dir: Path | str, *, app_ids: set[str] | None = None, **options: Any) -> None:
        super().__init__(out_dir, **options)
        self.app_ids = app_ids  # None: any numeric app id
        self.batch_sizes: list[int] = []  # events per accepted request

    def precheck(self, path: str, query: dict[str, str]) -> Reply | None:
        if path.rstrip("/") != heap.TRACK_PATH:
            return Reply(404, {"error": "not found"})
        return None

    def route(self, path: str, query: dict[str, str], document: Any) -> Reply:
        if path.rstrip("/") != heap.TRACK_PATH:
            return Reply(404, {"error": "not found"})
        problem = self.problem(document)
        if problem:
            return Reply(400, {"error": problem})
        self.write(str(document["app_id"]), [{"app_id": str(document["app_id"]), **e} for e in document["events"]])
        with self._lock:
            self.batch_sizes.append(len(document["events"]))
        return Reply(200, {})

    def problem(self, document: Any) -> str | None:
        if not isinstance(document, dict):
            return "body must be an object"
        app_id = document.get("app_id")
        if not isinstance(app_id, str) or not app_id.isdigit() or (self.app_ids and app_id not in self.app_ids):
            return "invalid app_id"
        events = document.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= heap.MAX_EVENTS:
            return f"events must be a list of 1 to {heap.MAX_EVENTS}"
        for number, event in enumerate(events):
            if not isinstance(event, dict):
                return f"events[{number}] is not an object"
            identity, name, key = event.get("identity"), event.get("event"), event.get("idempotency_key")
            if not isinstance(identity, str) or not 0 < len(identity) <= heap.MAX_IDENTITY:
                return f"events[{number}].identity must be 1-{heap.MAX_IDENTITY} characters"
            if not isinstance(name, str) or not 0 < len(name) <= heap.MAX_EVENT_NAME:
                return f"events[{number}].event must be 1-{heap.MAX_EVENT_NAME} characters"
            if not isinstance(key, str) or not key:
                return f"events[{number}].idempotency_key is required"
            try:
                datetime.fromisoformat(str(event.get("timestamp")).replace("Z", "+00:00"))
            except ValueError:
                return f"events[{number}].timestamp is not ISO-8601"
            properties = event.get("properties", {})
            if not isinstance(properties, dict):
                return f"events[{number}].properties must be an object"
            for prop, value in properties.items():
                if len(prop) > heap.MAX_PROPERTY_NAME:
                    return f"events[{number}].properties: a name is over {heap.MAX_PROPERTY_NAME} characters"
                if not isinstance(value, str | int | float | bool):
                    return f"events[{number}].properties.{prop} is not a flat value"
                if isinstance(value, str) and len(value) > heap.MAX_PROPERTY_VALUE:
                    return f"events[{number}].properties.{prop} is over {heap.MAX_PROPERTY_VALUE} characters"
        return None


class Ga4Receiver(_StandIn):
    endpoint = "ga4"

    def __init__(self, out_dir: Path | str, *, api_secret: str, **options: Any) -> None:
        super().__init__(out_dir, **options)
        self._api_secret = api_secret

    def __repr__(self) -> str:
        return f"Ga4Receiver(url={self.url!r}, api_secret=****)"

    def precheck(self, path: str, query: dict[str, str]) -> Reply | None:
        if path.rstrip("/") not in (ga4.COLLECT_PATH, ga4.DEBUG_PATH):
            return Reply(404, {"error": "not found"})
        if not re.fullmatch(r"G-[A-Z0-9]{4,20}", query.get("measurement_id", "")):
            return Reply(400, {"error": "measurement_id missing or invalid"})
        if not hmac.compare_digest(query.get("api_secret", "").encode(), self._api_secret.encode()):
            return Reply(403, {"error": "api_secret not valid for this stream"})
        return None

    def route(self, path: str, query: dict[str, str], document: Any) -> Reply:
        refusal = self.precheck(path, query)
        if refusal is not None:
            return refusal
        path = path.rstrip("/")
        measurement_id = query["measurement_id"]
        messages = self.validate(document)
        if path == ga4.DEBUG_PATH:
            return Reply(200, {"validationMessages": messages})
        if messages:
            self.write("invalid", [{"measurement_id": measurement_id, "messages": messages, "request": document}])
        else:
            client_id = document["client_id"]
            request_time = document.get("timestamp_micros")
            self.write(
                measurement_id,
                [
                    {"client_id": client_id, "timestamp_micros": e.get("timestamp_micros", request_time), **e}
                    for e in document["events"]
                ],
            )
        return Reply(204)

    def validate(self, document: Any) -> list[dict[str, str]]:
        def message(path: str, code: str, description: str) -> dict[str, str]:
            return {"fieldPath": path, "validationCode": code, "description": description}

        if not isinstance(document, dict):
            return [message("", "VALUE_INVALID", "the body must be a JSON object")]
        found = []
        if not isinstance(document.get("client_id"), str) or not document["client_id"]:
            found.append(message("client_id", "VALUE_REQUIRED", "client_id is required"))
        events = document.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= ga4.MAX_EVENTS:
            return [*found, message("events", "VALUE_INVALID", f"1 to {ga4.MAX_EVENTS} events a request")]
        for number, event in enumerate(events):
            where = f"events[{number}]"
            name = event.get("name") if isinstance(event, dict) else None
            if not isinstance(name, str) or ga4.ga4_name(name) != name:
                found.append(message(f"{where}.name", "NAME_INVALID", f"event name {name!r} is not valid"))
                continue
            stamp = event.get("timestamp_micros")
            if stamp is not None and (not isinstance(stamp, int) or isinstance(stamp, bool)):
                found.append(message(f"{where}.timestamp_micros", "VALUE_INVALID", "must be an integer"))
            params = event.get("params", {})
            if not isinstance(params, dict) or len(params) > ga4.MAX_PARAMS:
                found.append(message(f"{where}.params", "VALUE_INVALID", f"at most {ga4.MAX_PARAMS} params"))
                continue
            for key, value in params.items():
                if ga4.ga4_name(key) != key:
                    found.append(message(f"{where}.params.{key}", "NAME_INVALID", "param name is not valid"))
                elif isinstance(value, str):
                    if len(value) > ga4.MAX_PARAM_VALUE:
                        found.append(
                            message(f"{where}.params.{key}", "VALUE_INVALID", f"over {ga4.MAX_PARAM_VALUE} characters")
                        )
                elif not isinstance(value, int | float) or isinstance(value, bool):
                    found.append(message(f"{where}.params.{key}", "VALUE_INVALID", "must be a string or a number"))
        return found


class _Handler(Handler):
    """Path and credential, then size, on the headers; only then the body (at most the limit), then gunzip."""

    server_version = "eventpipe-stand-in"
    content_type = "application/json"

    def do_POST(self) -> None:
        owner: _StandIn = self.server.owner
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        refusal = owner.precheck(url.path, query)
        if refusal is not None:
            self.answer_unread(owner.count(refusal))
            return
        try:
            body = read_body(self.rfile, self.headers, owner.max_body_bytes)
        except BodyTooLarge:
            self.answer_unread(owner.count(Reply(413, {"error": "body too large"})))
            return
        except BodyUnreadable:
            self.answer_unread(owner.count(Reply(400, {"error": "body unreadable"})))
            return
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding == "gzip":
            try:
                body = gunzip(body, owner.max_decompressed_bytes)
            except BodyTooLarge:
                self.answer(owner.count(Reply(413, {"error": "body inflates past the limit"})))
                return
            except ValueError:
                self.answer(owner.count(Reply(400, {"error": "body is not valid gzip"})))
                return
        elif encoding not in ("", "identity"):
            self.answer(owner.count(Reply(415, {"error": "unsupported Content-Encoding"})))
            return
        reply = owner.handle(url.path, query, body)
        if reply.dropped:
            self.reset()
            return
        self.answer(reply)
