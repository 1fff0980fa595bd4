"""S3 delivery: App Events and Audit logs as gzip NDJSON in the stream envelope, plus a manifest per interval.

Keys are deterministic, so a re-run overwrites the same objects instead of adding copies::

    <prefix>/<kind>/dt=YYYY-MM-DD/hour=HH/<organization>-<YYYYMMDDTHH>-<part:05d>.json.gz
    <prefix>/_manifests/dt=YYYY-MM-DD/hour=HH/<organization>-<YYYYMMDDTHH>.manifest.json

An organization's events of one kind and interval are cut, in event id order, into parts of at most
``max_part_events`` events and ``max_part_bytes`` uncompressed bytes (one PUT each). gzip is written with a fixed
mtime, so the same events give the same bytes and the same sha256: a re-run finds the part in the ledger with
that checksum and skips it; a part whose events changed (a late landing file of the same hour) is rewritten.
The manifest (files, counts, sha256) is written last, so a reader that finds it finds every file it lists.

Hostile data stays contained. Keys are built only from an organization id that matches the contract's pattern
(``[A-Za-z0-9_-]{1,128}``) and are checked to stay under the destination's prefix: an organization with any other
id has its events dead-lettered (``invalid_organization_id``), never written. An event that cannot be serialised
(JSON nested too deeply, say) is dead-lettered with its reason and the rest of its part is written. A part whose
PUT fails is recorded as failed, the organization's other parts are still written, and no manifest is written
over a missing file.

Stores: ``S3Store`` (a boto3 client, normally from the Amazon provider's ``S3Hook``; SSE-KMS when configured)
and ``LocalStore`` (``<root>/<bucket>/<key>``, the embedded default's stand-in for a bucket). The delivery code
is the same for both.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from eventpipe.contract import ORGANIZATION_ID
from eventpipe.deliver.config import Destination
from eventpipe.deliver.events import UNSENDABLE, Event, unsendable_reason
from eventpipe.deliver.ledger import DELIVERED, FAILED, LedgerEntry, PartResult

GZIP_LEVEL = 6
MANIFEST = "manifest"
DEAD_LETTER_PART = "dead-letter"  # the ledger row of a kind whose every event was dead-lettered
INVALID_ORGANIZATION_ID = "invalid_organization_id"
# A bucket name as S3 allows it (and so a single, harmless folder name for the local store).
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class UnsafeKeyError(ValueError):
    """An object key or bucket that could land outside where it belongs; nothing is written."""


def check_key(key: str, under: str = "") -> str:
    """``key`` if it is a plain relative key (no empty, ``.`` or ``..`` segment, no control character, no
    backslash) inside ``under``; else ``UnsafeKeyError``."""
    segments = key.split("/")
    if (
        not key
        or any(segment in ("", ".", "..") for segment in segments)
        or "\\" in key
        or any(ord(char) < 32 or ord(char) == 127 for char in key)
        or posixpath.normpath(key) != key
    ):
        raise UnsafeKeyError(f"object key {key!r} is not a plain relative key")
    if under and not key.startswith(under.rstrip("/") + "/"):
        raise UnsafeKeyError(f"object key {key!r} is not under the prefix {under!r}")
    return key


def check_bucket(bucket: str) -> str:
    if not isinstance(bucket, str) or not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise UnsafeKeyError(f"bucket name {bucket!r} is not a valid S3 bucket name")
    return bucket


def valid_organization_id(organization_id: str) -> bool:
    return isinstance(organization_id, str) and ORGANIZATION_ID.fullmatch(organization_id) is not None


class ObjectStore(Protocol):
    def put(self, bucket: str, key: str, body: bytes, *, content_type: str, content_encoding: str | None) -> None: ...

    def describe(self) -> str: ...


class S3Store:
    """Writes through a boto3 S3 client; with ``sse_kms_key_id`` every object is encrypted with that KMS key."""

    def __init__(self, client: Any, sse_kms_key_id: str | None = None) -> None:
        self._client = client
        self.sse_kms_key_id = sse_kms_key_id

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str, content_encoding: str | None) -> None:
        extra: dict[str, Any] = {}
        if content_encoding:
            extra["ContentEncoding"] = content_encoding
        if self.sse_kms_key_id:
            extra["ServerSideEncryption"] = "aws:kms"
            extra["SSEKMSKeyId"] = self.sse_kms_key_id
        self._client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ContentMD5=_content_md5(body),  # S3 refuses a body damaged on the way
            **extra,
        )

    def describe(self) -> str:
        return "s3"


class LocalStore:
    """``<root>/<bucket>/<key>``, written atomically (a reader never sees half an object)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str, content_encoding: str | None) -> None:
        """Confined to ``<root>/<bucket>``: an unsafe bucket or key, or one that resolves (through a symlink, say)
        outside the bucket's folder, is refused before anything is created."""
        folder = self.root / check_bucket(bucket)
        path = folder / check_key(key)
        if not path.resolve().is_relative_to(folder.resolve()):
            raise UnsafeKeyError(f"object key {key!r} escapes the bucket folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.parent.resolve().is_relative_to(folder.resolve()):
            raise UnsafeKeyError(f"object key {key!r} escapes the bucket folder")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def describe(self) -> str:
        return f"local:{self.root}"


def _content_md5(body: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


@dataclass
class _Part:
    kind: str
    number: int
    events: list[Event]
    body: bytes  # gzip
    raw_bytes: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def object_prefix(destination: Destination, organization_id: str) -> str:
    if not valid_organization_id(organization_id):
        raise UnsafeKeyError(f"organization id {organization_id!r} does not match {ORGANIZATION_ID.pattern}")
    return check_key(destination.options["prefix"].format(organization_id=organization_id).strip("/"))


def part_key(destination: Destination, organization_id: str, kind: str, interval_start: datetime, number: int) -> str:
    prefix = object_prefix(destination, organization_id)
    return check_key(
        f"{prefix}/{kind}/{_partition(interval_start)}/{organization_id}-{interval_start:%Y%m%dT%H}-{number:05d}.json.gz",
        prefix,
    )


def manifest_key(destination: Destination, organization_id: str, interval_start: datetime) -> str:
    prefix = object_prefix(destination, organization_id)
    return check_key(
        f"{prefix}/_manifests/{_partition(interval_start)}/{organization_id}-{interval_start:%Y%m%dT%H}.manifest.json",
        prefix,
    )


def _partition(interval_start: datetime) -> str:
    return f"dt={interval_start:%Y-%m-%d}/hour={interval_start:%H}"


def cut_parts(
    events: list[Event],
    kind: str,
    max_events: int,
    max_bytes: int,
    dead_letters: list[tuple[str, str | None, str]] | None = None,
) -> Iterator[_Part]:
    """Event id order, at most ``max_events`` events and ``max_bytes`` uncompressed bytes a part (one event over the
    byte bound still makes a part of its own: it is never split or dropped). An event that cannot be serialised
    goes to ``dead_letters`` as ``(event id, None, reason)`` and the part goes on without it (without the list,
    it raises)."""
    encoded: list[tuple[Event, bytes]] = []
    for event in sorted(events, key=lambda e: e.event_id):  # all first: the dead letters are known at part 0
        try:
            encoded.append((event, event.envelope_json() + b"\n"))
        except UNSENDABLE as exc:
            if dead_letters is None:
                raise
            dead_letters.append((event.event_id, None, unsendable_reason(exc)))
    lines: list[bytes] = []
    part_events: list[Event] = []
    size = 0
    number = 0
    for event, line in encoded:
        if part_events and (len(part_events) >= max_events or size + len(line) > max_bytes):
            yield _make_part(kind, number, part_events, lines, size)
            number += 1
            lines, part_events, size = [], [], 0
        lines.append(line)
        part_events.append(event)
        size += len(line)
    if part_events:
        yield _make_part(kind, number, part_events, lines, size)


def _make_part(kind: str, number: int, events: list[Event], lines: list[bytes], size: int) -> _Part:
    body = gzip.compress(b"".join(lines), compresslevel=GZIP_LEVEL, mtime=0)
    return _Part(kind, number, events, body, size)


def deliver_organization(
    store: ObjectStore,
    destination: Destination,
    organization_id: str,
    interval_start: datetime,
    events_by_kind: dict[str, list[Event]],
    ledger: dict[tuple[str, str, str], LedgerEntry],
    *,
    force: bool = False,
    on_result=None,
) -> list[PartResult]:
    """Write the organization's parts of every configured kind, then the interval's manifest (only when every part
    was written). Dead letters travel on the kind's first part (or a ``dead-letter`` row when no part is left)."""
    results: list[PartResult] = []
    files: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    dead_lettered: dict[str, int] = {}
    complete = True

    def emit(result: PartResult) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    if not valid_organization_id(organization_id):
        for kind in destination.kinds:
            events = events_by_kind.get(kind) or []
            if events:
                reason = f"{INVALID_ORGANIZATION_ID}: the organization id does not match {ORGANIZATION_ID.pattern}"
                row = _dead_letter_row(destination, organization_id, kind, interval_start, events, reason)
                emit(_skip_if_recorded(row, ledger, force))
        return results
    for kind in destination.kinds:
        events = events_by_kind.get(kind) or []
        dead: list[tuple[str, str | None, str]] = []
        kind_results = len(results)
        for part in cut_parts(
            events, kind, destination.options["max_part_events"], destination.options["max_part_bytes"], dead
        ):
            key = part_key(destination, organization_id, kind, interval_start, part.number)
            checksum = part.sha256
            files.append(
                {
                    "key": key,
                    "kind": kind,
                    "events": len(part.events),
                    "bytes": len(part.body),
                    "uncompressed_bytes": part.raw_bytes,
                    "sha256": checksum,
                    "first_event_id": part.events[0].event_id,
                    "last_event_id": part.events[-1].event_id,
                }
            )
            result = _put(
                store, destination, organization_id, kind, interval_start, f"{part.number:05d}", key, part.body,
                checksum, len(part.events), ledger, force, "application/x-ndjson", "gzip",
            )  # fmt: skip
            if part.number == 0 and dead:  # complete by now: cut_parts encodes every event before the first part
                result.dead_letters = list(dead)
                result.events += len(dead)
            emit(result)
            complete = complete and result.status == DELIVERED
        counts[kind] = len(events) - len(dead)
        if dead:
            dead_lettered[kind] = len(dead)
        if dead and len(results) == kind_results:  # every event of the kind was dead-lettered
            row = _dead_letter_row(destination, organization_id, kind, interval_start, [], "", dead)
            emit(_skip_if_recorded(row, ledger, force))
    if not files or not complete:
        return results  # no manifest over a missing file
    manifest = {
        "organizationId": organization_id,
        "destination": destination.name,
        "interval_start": f"{interval_start:%Y-%m-%dT%H:%M:%SZ}",
        "interval_end": f"{interval_start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
        "format": "gzip NDJSON, one stream-envelope event per line",
        "counts": counts,
        "events": sum(counts.values()),
        "files": files,
    }
    if dead_lettered:  # only when some were: a clean interval's manifest keeps its bytes (and checksum)
        manifest["dead_lettered"] = dead_lettered
    body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    key = manifest_key(destination, organization_id, interval_start)
    result = _put(
        store, destination, organization_id, MANIFEST, interval_start, MANIFEST, key, body,
        hashlib.sha256(body).hexdigest(), 0, ledger, force, "application/json", None,
    )  # fmt: skip
    results.append(result)
    if on_result:
        on_result(result)
    return results


def _dead_letter_row(
    destination: Destination,
    organization_id: str,
    kind: str,
    interval_start: datetime,
    events: list[Event],
    reason: str,
    dead: list[tuple[str, str | None, str]] | None = None,
) -> PartResult:
    """A ledger row for events that were all dead-lettered (nothing written): delivered, so a re-run skips it."""
    dead = dead if dead is not None else [(event.event_id, None, reason) for event in events]
    ids = sorted(event_id for event_id, _, _ in dead)
    return PartResult(
        destination.name, destination.type, organization_id, kind, interval_start, DEAD_LETTER_PART, "", DELIVERED,
        len(ids), 0, hashlib.sha256("\n".join(ids).encode()).hexdigest(), dead_letters=dead,
    )  # fmt: skip


def _skip_if_recorded(result: PartResult, ledger: dict[tuple[str, str, str], LedgerEntry], force: bool) -> PartResult:
    previous = ledger.get((result.organization_id, result.kind, result.part))
    if not force and previous is not None and previous.status == DELIVERED and previous.checksum == result.checksum:
        result.skipped = True
    return result


def _put(
    store: ObjectStore,
    destination: Destination,
    organization_id: str,
    kind: str,
    interval_start: datetime,
    part: str,
    key: str,
    body: bytes,
    checksum: str,
    events: int,
    ledger: dict[tuple[str, str, str], LedgerEntry],
    force: bool,
    content_type: str,
    content_encoding: str | None,
) -> PartResult:
    result = PartResult(
        destination.name, destination.type, organization_id, kind, interval_start, part,
        f"s3://{destination.options['bucket']}/{key}", DELIVERED, events, events, checksum, bytes=len(body),
    )  # fmt: skip
    previous = ledger.get((organization_id, kind, part))
    if not force and previous is not None and previous.status == DELIVERED and previous.checksum == checksum:
        result.skipped = True
        result.bytes = 0
        return result
    result.attempts = 1
    try:
        store.put(
            destination.options["bucket"], key, body, content_type=content_type, content_encoding=content_encoding
        )
    except Exception as exc:
        result.status, result.delivered, result.error = FAILED, 0, f"{type(exc).__name__}: {exc}"
    return result
