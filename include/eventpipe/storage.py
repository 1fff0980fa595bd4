"""Object storage by URL: a local path or ``s3://bucket/key``.

One small interface so that extract, generate and deliver never branch on where files live.
S3 goes through boto3, which reads credentials and ``AWS_ENDPOINT_URL`` (an emulator) from the
environment or the Airflow connection that exported them; nothing here logs or stores them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import BinaryIO

LANDING_SUFFIXES = (".json.gz", ".ndjson.gz", ".json", ".ndjson")


@dataclass(frozen=True)
class StoredFile:
    url: str
    size: int
    # What changes when the file is written again (local: mtime in ns; S3: the ETag). A file quarantined
    # as unreadable is tried again once its version or size changes (a fixed copy landed under its name).
    version: str = ""
    # When it was written (UTC), as the store reports it: how long a file has waited to load (the lag's start).
    modified: datetime | None = None


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def split_s3(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def join(base: str, *parts: str) -> str:
    if is_s3(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base, *parts))


@cache
def _s3_client():
    import boto3  # imported lazily: DAG files must not pay for boto3 at parse time

    return boto3.client("s3")


def write_bytes(url: str, data: bytes) -> None:
    if is_s3(url):
        bucket, key = split_s3(url)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = Path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers never see a half-written file


def list_files(prefix: str, suffixes: tuple[str, ...] = LANDING_SUFFIXES) -> list[StoredFile]:
    """Files directly or indirectly under ``prefix`` whose names end in one of ``suffixes``, sorted."""
    found = _list_s3(prefix) if is_s3(prefix) else _list_local(prefix)
    return sorted((f for f in found if f.url.endswith(suffixes)), key=lambda f: f.url)


def _list_local(prefix: str) -> Iterator[StoredFile]:
    root = Path(prefix)
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
            yield StoredFile(str(path), stat.st_size, str(stat.st_mtime_ns), modified)


def _list_s3(prefix: str) -> Iterator[StoredFile]:
    bucket, key = split_s3(prefix)
    paginator = _s3_client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=key.rstrip("/") + "/"):
        for obj in page.get("Contents", []):
            modified = obj["LastModified"].astimezone(UTC).replace(tzinfo=None) if "LastModified" in obj else None
            yield StoredFile(f"s3://{bucket}/{obj['Key']}", obj["Size"], obj.get("ETag", "").strip('"'), modified)


def open_binary(url: str) -> BinaryIO:
    """A readable binary stream of the stored bytes (not decompressed)."""
    if is_s3(url):
        bucket, key = split_s3(url)
        return _s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    return open(url, "rb")
