"""What the HEC receiver checks in a request: its token's settings, its body, and a batch's events.

A batch is concatenated JSON objects (``parse_batch``), checked event by event in Splunk's order of precedence
(``validate``); ``fast_batch`` is the common case (one valid object a line, what eventpipe's client sends) taken
without decoding the events, falling back to the exact path for anything unusual so answers are the same either
way. A failed check raises ``Reject`` with the HEC code (``eventpipe.deliver.hec.CODES``) and the 0-based event
number, turned into the answer in one place (``HecReceiver.handle``).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from email.message import Message
from typing import Any

import msgspec

from eventpipe.deliver.hec import CODES
from eventpipe.devtools.receivers.body import DEFAULT_MAX_DECOMPRESSED_BYTES, gunzip
from eventpipe.devtools.receivers.server import Reply

INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")  # fullmatch: "main\n" is not an index name
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
TOO_LARGE = {"text": "Content too large"}  # the 413 body (not a HEC code)


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


@dataclass(frozen=True)
class Token:
    """A token's settings: whether it acknowledges, the indexes it may write to (None: any), disabled."""

    ack: bool = False
    indexes: tuple[str, ...] | None = None
    default_index: str = "main"
    disabled: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Token:
        indexes = config.get("indexes")
        indexes = tuple(indexes) if indexes is not None else None
        default = config.get("default_index") or (indexes[0] if indexes else "main")
        return cls(bool(config.get("ack")), indexes, default, bool(config.get("disabled")))


@dataclass
class Request:
    endpoint: str
    headers: Message
    query: dict[str, str]
    body: bytes
    client: str
    config: Token | None = None  # the token's, when it was checked before the body was read
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES


def hec_reply(code: int, **extra: Any) -> Reply:
    """The HEC answer for ``code``: its HTTP status and ``{"text", "code", **extra}``."""
    status, text = CODES[code]
    return Reply(status, {"text": text, "code": code, **extra})


class Reject(Exception):
    """A HEC error answer, raised from deep in validation and turned into the reply in one place."""

    def __init__(self, code: int, event_number: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.event_number = event_number

    def reply(self) -> Reply:
        extra = {} if self.event_number is None else {"invalid-event-number": self.event_number}
        return hec_reply(self.code, **extra)


def decode_body(request: Request) -> str:
    body = request.body
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if encoding == "gzip":
        try:
            body = gunzip(body, request.max_decompressed_bytes)  # BodyTooLarge: answered 413
        except ValueError:
            raise Reject(6) from None
    elif encoding not in ("", "identity"):
        raise Reject(6)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Reject(6) from None


def parse_batch(text: str) -> list[dict[str, Any]]:
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
            raise Reject(6, len(objects)) from None
        if not isinstance(obj, dict):
            raise Reject(6, len(objects))
        objects.append(obj)
    if not objects:
        raise Reject(5)
    return objects


def index_allowed(index: Any, config: Token) -> bool:
    if index is None or index == "":
        return True
    if not isinstance(index, str) or not INDEX_NAME.fullmatch(index):
        return False
    return config.indexes is None or index in config.indexes or index == config.default_index


def validate(obj: dict[str, Any], config: Token, number: int) -> None:
    """Splunk's per-event checks, in its order of precedence; ``number`` is the event's 0-based position."""
    if "event" not in obj:
        raise Reject(12, number)
    event = obj["event"]
    if event is None or (isinstance(event, str) and not event.strip()):
        raise Reject(13, number)
    if any(key in obj and not isinstance(obj[key], str) for key in ("host", "source", "sourcetype")):
        raise Reject(6, number)
    if "time" in obj and not _is_epoch(obj["time"]):
        raise Reject(6, number)
    if not index_allowed(obj.get("index"), config):
        raise Reject(7, number)
    if "fields" in obj and not _flat_fields(obj["fields"]):
        raise Reject(15, number)


def fast_batch(text: str, config: Token) -> dict[str, list[str]] | None:
    """The common case, fast: one valid event object a line (what eventpipe's client sends), lines by index.

    Each line is decoded on its own (so a line holding two objects, or an object spread over lines, is not this
    case), with the ``event`` value left undecoded, and written as received. Anything unusual (a blank or
    null event, a wrong type, an index not allowed, bad JSON) returns None: the exact path (``parse_batch`` +
    ``validate``) then finds the code and the event number, so answers are the same either way.
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
            allowed = indexes[index] = index_allowed(index, config)
        if not allowed:
            return None
        lines[index or config.default_index].append(line)
    return lines or None


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
