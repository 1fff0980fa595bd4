"""S3 delivery: App Events and Audit logs as gzip NDJSON in the stream envelope, plus a manifest per arrival hour.

Keys are deterministic, so a re-run overwrites the same objects instead of adding copies::

    <prefix>/<kind>/dt=YYYY-MM-DD/hour=HH/<organization>-<YYYYMMDDTHH>-c<commit:010d>-<part:05d>.json.gz
    <prefix>/_manifests/dt=YYYY-MM-DD/hour=HH/<organization>-<YYYYMMDDTHH>.manifest.json

A unit (a load commit's events of one organization, kind and arrival hour: ``eventpipe.deliver.ledger.Unit``) is cut,
in its stream's order, into objects of at most ``max_part_events`` events and ``max_part_bytes`` uncompressed bytes
(one PUT each), built as the events stream by (``ObjectBuilder``: only the compressed object is held). gzip is
written with a fixed mtime, so the same events give the same bytes and the same sha256. A commit's rows never
change, so a part's object never changes either; a later commit of the same hour (late files, a quarantine replay)
adds objects of its own. The hour's manifest (every object delivered for it so far, with counts and sha256) is
rewritten after each unit whose objects were all written, so a reader that finds a manifest finds every file it
lists.

Hostile data stays contained. Keys are built only from an organization id that matches the contract's pattern
(``[A-Za-z0-9_-]{1,128}``) and are checked to stay under the destination's prefix: an organization with any other
id has its events dead-lettered (``invalid_organization_id``), never written. An event that cannot be serialised
(JSON nested too deeply, say) is dead-lettered with its reason and the rest of its object is written.

Stores: ``S3Store`` (a boto3 client, normally from the Amazon provider's ``S3Hook``; SSE-KMS when configured)
and ``LocalStore`` (``<root>/<bucket>/<key>``, the embedded default's stand-in for a bucket). The delivery code
is the same for both.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from eventpipe.contract import ORGANIZATION_ID
from eventpipe.deliver.config import Destination
from eventpipe.deliver.ledger import Unit

GZIP_LEVEL = 6
MANIFEST = "manifest"
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


def object_prefix(destination: Destination, organization_id: str) -> str:
    if not valid_organization_id(organization_id):
        raise UnsafeKeyError(f"organization id {organization_id!r} does not match {ORGANIZATION_ID.pattern}")
    return check_key(destination.options["prefix"].format(organization_id=organization_id).strip("/"))


def part_key(destination: Destination, unit: Unit, number: int) -> str:
    """The object of a unit's part: under its kind and arrival hour, named by organization, hour, commit and part."""
    prefix = object_prefix(destination, unit.organization_id)
    name = f"{unit.organization_id}-{unit.interval_start:%Y%m%dT%H}-c{unit.commit_seq:010d}-{number:05d}.json.gz"
    return check_key(f"{prefix}/{unit.kind}/{_partition(unit.interval_start)}/{name}", prefix)


def manifest_key(destination: Destination, organization_id: str, interval_start: datetime) -> str:
    prefix = object_prefix(destination, organization_id)
    return check_key(
        f"{prefix}/_manifests/{_partition(interval_start)}/{organization_id}-{interval_start:%Y%m%dT%H}.manifest.json",
        prefix,
    )


class ObjectBuilder:
    """One object's body, built as its lines come (gzip with a fixed mtime: the same lines, the same bytes), so that
    only the compressed object is held, never its events."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._gzip = gzip.GzipFile(fileobj=self._buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
        self.events = 0
        self.raw_bytes = 0
        self.first_event_id: str | None = None
        self.last_event_id: str | None = None

    def add(self, event_id: str, line: bytes) -> None:
        self._gzip.write(line)
        self.events += 1
        self.raw_bytes += len(line)
        self.first_event_id = self.first_event_id or event_id
        self.last_event_id = event_id

    def close(self) -> bytes:
        self._gzip.close()
        return self._buffer.getvalue()


def manifest(destination: Destination, organization_id: str, interval_start: datetime, objects: list[tuple]) -> bytes:
    """The hour's manifest: every object delivered for the organization and arrival hour so far (``objects``: the
    ledger's rows, ``delivery_s3_objects.sql``), in key order; rewritten whenever a commit adds objects to the hour."""
    bucket = f"s3://{destination.options['bucket']}/"
    files = [
        {"key": target.removeprefix(bucket), "kind": kind, "events": int(events), "bytes": int(size),
         "sha256": checksum, "first_event_id": first, "last_event_id": last}
        for target, kind, events, size, checksum, first, last in sorted(objects)
    ]  # fmt: skip
    counts: dict[str, int] = {}
    for entry in files:
        counts[entry["kind"]] = counts.get(entry["kind"], 0) + entry["events"]
    body = {
        "organizationId": organization_id,
        "destination": destination.name,
        "interval_start": f"{interval_start:%Y-%m-%dT%H:%M:%SZ}",
        "interval_end": f"{interval_start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
        "format": "gzip NDJSON, one stream-envelope event per line",
        "counts": counts,
        "events": sum(counts.values()),
        "files": files,
    }
    return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"


def _partition(interval_start: datetime) -> str:
    return f"dt={interval_start:%Y-%m-%d}/hour={interval_start:%H}"
