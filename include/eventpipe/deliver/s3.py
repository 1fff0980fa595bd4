"""S3 delivery: App Events and Audit logs as gzip NDJSON in the stream envelope, plus a manifest per interval.

Keys are deterministic, so a re-run overwrites the same objects instead of adding copies::

    <prefix>/<kind>/dt=YYYY-MM-DD/hour=HH/<organization>-<YYYYMMDDTHH>-<part:05d>.json.gz
    <prefix>/_manifests/dt=YYYY-MM-DD/hour=HH/<organization>-<YYYYMMDDTHH>.manifest.json

An organization's events of one kind and interval are cut, in event id order, into parts of at most
``max_part_events`` events and ``max_part_bytes`` uncompressed bytes (one PUT each). gzip is written with a fixed
mtime, so the same events give the same bytes and the same sha256: a re-run finds the part in the ledger with
that checksum and skips it; a part whose events changed (a late landing file of the same hour) is rewritten.
The manifest (files, counts, sha256) is written last, so a reader that finds it finds every file it lists.

Stores: ``S3Store`` (a boto3 client, normally from the Amazon provider's ``S3Hook``; SSE-KMS when configured)
and ``LocalStore`` (``<root>/<bucket>/<key>``, the embedded default's stand-in for a bucket). The delivery code
is the same for both.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from eventpipe.deliver.config import Destination
from eventpipe.deliver.events import Event
from eventpipe.deliver.ledger import DELIVERED, FAILED, LedgerEntry, PartResult

GZIP_LEVEL = 6
MANIFEST = "manifest"


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
        path = self.root / bucket / key
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"object key {key!r} escapes the store")
        path.parent.mkdir(parents=True, exist_ok=True)
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
    return destination.options["prefix"].format(organization_id=organization_id).strip("/")


def part_key(destination: Destination, organization_id: str, kind: str, interval_start: datetime, number: int) -> str:
    return (
        f"{object_prefix(destination, organization_id)}/{kind}/{_partition(interval_start)}/"
        f"{organization_id}-{interval_start:%Y%m%dT%H}-{number:05d}.json.gz"
    )


def manifest_key(destination: Destination, organization_id: str, interval_start: datetime) -> str:
    return (
        f"{object_prefix(destination, organization_id)}/_manifests/{_partition(interval_start)}/"
        f"{organization_id}-{interval_start:%Y%m%dT%H}.manifest.json"
    )


def _partition(interval_start: datetime) -> str:
    return f"dt={interval_start:%Y-%m-%d}/hour={interval_start:%H}"


def cut_parts(events: list[Event], kind: str, max_events: int, max_bytes: int) -> Iterator[_Part]:
    """Event id order, at most ``max_events`` events and ``max_bytes`` uncompressed bytes a part (one event over the
    byte bound still makes a part of its own: it is never split or dropped)."""
    lines: list[bytes] = []
    part_events: list[Event] = []
    size = 0
    number = 0
    for event in sorted(events, key=lambda e: e.event_id):
        line = event.envelope_json() + b"\n"
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
    """Write the organization's parts of every configured kind, then the interval's manifest."""
    results: list[PartResult] = []
    files: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for kind in destination.kinds:
        events = events_by_kind.get(kind) or []
        counts[kind] = len(events)
        for part in cut_parts(
            events, kind, destination.options["max_part_events"], destination.options["max_part_bytes"]
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
            results.append(result)
            if on_result:
                on_result(result)
            if result.status != DELIVERED:
                return results  # no manifest over a missing file
    if not files:
        return results
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
