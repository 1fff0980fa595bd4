"""Read landing files as numbered raw lines, in bounded memory, without a Python loop per line.

A file is decompressed in chunks; each chunk is split on newlines with numpy and handed to DuckDB as
an Arrow table of ``(line_number, raw_line BLOB, line_bytes, line_sha256, nesting_depth)``
(``eventpipe.ingest.linescan``). Lines stay bytes here, so a line that is not valid UTF-8 reaches the
quarantine byte for byte instead of failing the whole file.

Memory does not depend on a line's or a file's size: a line past the cap
(``EVENTPIPE_MAX_LINE_BYTES``) is streamed, keeping only its prefix, a running sha256 and its length
until its newline. A UTF-8 byte-order mark at the start of a file is not part of its first line.

A file that cannot be read to its end (truncated or corrupt compression, an unsupported
compression, gone since it was listed) raises ``UnreadableFile`` with a reason code: the loader
quarantines it as a file. Any other error (a network error, say) propagates and fails the load.
"""

from __future__ import annotations

import contextlib
import gzip
import queue
import threading
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from eventpipe import storage
from eventpipe.ingest.linescan import Limits, OverlongLine, annotate

CHUNK_BYTES = 32 * 1024 * 1024
BATCH_ROWS = 8192
BOM = b"\xef\xbb\xbf"
_NEWLINE = 10

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"\x04\x22\x4d\x18": "lz4",
}


class UnreadableFile(Exception):
    """A landing file that cannot be read to its end: quarantined as a file, with ``reason`` and ``detail``."""

    def __init__(self, url: str, reason: str, detail: str):
        super().__init__(f"{url}: {reason}: {detail}")
        self.url, self.reason, self.detail = url, reason, detail


def partition_prefix(landing: str, interval_start: datetime) -> str:
    """``<landing>/dt=YYYY-MM-DD/hour=HH``: the arrival-hour partition of the landing contract."""
    return storage.join(landing, f"dt={interval_start:%Y-%m-%d}", f"hour={interval_start:%H}")


def partition_files(landing: str, interval_start: datetime) -> list[storage.StoredFile]:
    return storage.list_files(partition_prefix(landing, interval_start))


def _decompressed(url: str, raw: BinaryIO) -> BinaryIO:
    # GzipFile handles multi-member gzip (streams flushed by concatenating members).
    return gzip.GzipFile(fileobj=raw) if url.endswith(".gz") else raw


def iter_line_chunks(url: str, chunk_bytes: int | None = None, limits: Limits | None = None) -> Iterator[pa.Table]:
    """Yield Arrow line tables covering every line of ``url`` (see the module docstring).

    A line is what ends in ``\\n``, plus a final unterminated remainder if it is not empty.
    Line numbers start at 1. The newline itself is not part of ``raw_line``.
    Raises ``UnreadableFile`` when the file cannot be read to its end.
    """
    try:
        yield from _line_chunks(url, chunk_bytes or CHUNK_BYTES, limits or Limits.from_settings())
    except UnreadableFile:
        raise
    except Exception as error:
        unreadable = classify(url, error)
        if unreadable is None:
            raise
        raise unreadable from error


def _line_chunks(url: str, chunk_bytes: int, limits: Limits) -> Iterator[pa.Table]:
    next_line_number = 1
    carry = b""
    overlong: OverlongLine | None = None
    first = True
    with storage.open_binary(url) as raw, _decompressed(url, raw) as stream:
        # The first read is long enough to hold a BOM or a compression magic number whole.
        while block := stream.read(max(chunk_bytes, 8) if first else chunk_bytes):
            if first:
                _check_not_compressed(url, block)
                block = block.removeprefix(BOM)
                first = False
            if overlong is not None:
                newline = block.find(b"\n")
                if newline < 0:
                    overlong.update(block)
                    continue
                overlong.update(block[:newline])
                yield overlong.table(next_line_number)
                next_line_number += 1
                overlong = None
                block = block[newline + 1 :]
            data = carry + block if carry else block
            last_newline = data.rfind(b"\n")
            complete, carry = (b"", data) if last_newline < 0 else (data[: last_newline + 1], data[last_newline + 1 :])
            if complete:
                table = split_lines(complete, next_line_number, limits)
                next_line_number += table.num_rows
                yield table
            if len(carry) > limits.max_line_bytes:
                overlong = OverlongLine(carry, limits.prefix_bytes)
                carry = b""
    if overlong is not None:
        yield overlong.table(next_line_number)
    elif carry:
        yield split_lines(carry + b"\n", next_line_number, limits)


def _check_not_compressed(url: str, head: bytes) -> None:
    if url.endswith(".gz"):
        return
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            raise UnreadableFile(url, "unsupported_compression", f"{name} data in a file not named .gz")


def classify(url: str, error: BaseException) -> UnreadableFile | None:
    """The file-level quarantine reason for an error reading ``url``, or None if it is not the file's fault."""
    if isinstance(error, EOFError):
        return UnreadableFile(url, "truncated", f"compressed data ended early: {error}")
    if isinstance(error, FileNotFoundError) or _s3_error_code(error) in ("NoSuchKey", "404"):
        return UnreadableFile(url, "file_missing", "gone between listing and reading")
    if isinstance(error, gzip.BadGzipFile) and "Not a gzipped file" in str(error):
        found = _sniff(url)
        if found == "gzip data":  # a gzip member, then bytes that are not one: a corrupt file
            return UnreadableFile(url, "corrupt_compression", f"data after a gzip member is not gzip: {error}")
        return UnreadableFile(url, "unsupported_compression", f"not gzip data ({found})")
    if isinstance(error, gzip.BadGzipFile | zlib.error):
        return UnreadableFile(url, "corrupt_compression", str(error)[:200])
    return None


def _s3_error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _sniff(url: str) -> str:
    try:
        with storage.open_binary(url) as raw:
            head = raw.read(8)
    except Exception:  # the detail is best effort; the reason stands
        return "unknown format"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return f"{name} data"
    return f"starts with {head[:4]!r}"


def read_ahead(
    urls: list[str], chunk_bytes: int | None = None, limits: Limits | None = None
) -> Iterator[tuple[str, pa.Table | UnreadableFile]]:
    """``(url, chunk)`` for every chunk of every file, read one chunk ahead in a background thread.

    A file that cannot be read to its end yields ``(url, UnreadableFile)`` after the chunks read
    before the failure, and reading goes on with the next file; any other error is raised in the caller.
    """
    done = object()
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    limits = limits or Limits.from_settings()

    def produce() -> None:
        try:
            for url in urls:
                try:
                    for chunk in iter_line_chunks(url, chunk_bytes, limits):
                        if stop.is_set():
                            return
                        ready.put((url, chunk))
                except UnreadableFile as unreadable:
                    ready.put((url, unreadable))
            ready.put(done)
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    reader = threading.Thread(target=produce, name="landing-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue, then let it finish
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        reader.join()


def split_lines(data: bytes, first_line_number: int, limits: Limits | None = None) -> pa.Table:
    """Split ``data`` (which ends with a newline) into one line per row, newlines removed."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == _NEWLINE)
    count = len(newlines)
    # Line i spans [newlines[i-1] + 1, newlines[i]) in `data`. Removing the newline bytes shifts
    # line i left by i, which gives the Arrow offsets of the compacted buffer directly.
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = newlines - np.arange(count, dtype=np.int64)
    values = np.delete(buffer, newlines)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), count, [None, pa.py_buffer(offsets), pa.py_buffer(values)]
    )
    numbers = pa.array(np.arange(first_line_number, first_line_number + count, dtype=np.int64))
    table = annotate(numbers, lines, values, offsets, limits or Limits.from_settings())
    # DuckDB scans an Arrow table one record batch per thread: several batches keep every core busy.
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS))


def count_lines(url: str) -> int:
    """Lines in a stored file, counted independently of ``iter_line_chunks`` (for reconciliation)."""
    lines = 0
    last = b"\n"
    with storage.open_binary(url) as raw, _decompressed(url, raw) as stream:
        block = stream.read(max(CHUNK_BYTES, 8)).removeprefix(BOM)  # a BOM alone is no line
        while block:
            lines += block.count(b"\n")
            last = block[-1:]
            block = stream.read(CHUNK_BYTES)
    return lines + (0 if last == b"\n" else 1)
