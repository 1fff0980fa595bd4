"""Read landing files as numbered raw lines, in bounded memory, without a Python loop per line.

A file is decompressed in chunks; each chunk is split on newlines with numpy and handed to DuckDB as
an Arrow table of ``(line_number, raw_line BLOB)``. Lines stay bytes here, so a line that is not
valid UTF-8 reaches the quarantine byte for byte instead of failing the whole file.
"""

from __future__ import annotations

import contextlib
import gzip
import queue
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from eventpipe import storage

CHUNK_BYTES = 32 * 1024 * 1024
BATCH_ROWS = 8192
_NEWLINE = 10


def partition_prefix(landing: str, interval_start: datetime) -> str:
    """``<landing>/dt=YYYY-MM-DD/hour=HH``: the arrival-hour partition of the landing contract."""
    return storage.join(landing, f"dt={interval_start:%Y-%m-%d}", f"hour={interval_start:%H}")


def partition_files(landing: str, interval_start: datetime) -> list[storage.StoredFile]:
    return storage.list_files(partition_prefix(landing, interval_start))


def _decompressed(url: str, raw: BinaryIO) -> BinaryIO:
    # GzipFile handles multi-member gzip (streams flushed by concatenating members).
    return gzip.GzipFile(fileobj=raw) if url.endswith(".gz") else raw


def iter_line_chunks(url: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pa.Table]:
    """Yield Arrow tables ``(line_number int64, raw_line binary)`` covering every line of ``url``.

    A line is what ends in ``\\n``, plus a final unterminated remainder if it is not empty.
    Line numbers start at 1. The newline itself is not part of ``raw_line``.
    """
    next_line_number = 1
    carry = b""
    with storage.open_binary(url) as raw, _decompressed(url, raw) as stream:
        while True:
            block = stream.read(chunk_bytes)
            if not block:
                break
            data = carry + block if carry else block
            last_newline = data.rfind(b"\n")
            if last_newline < 0:
                carry = data
                continue
            carry = data[last_newline + 1 :]
            table = _split_lines(data[: last_newline + 1], next_line_number)
            next_line_number += table.num_rows
            yield table
    if carry:
        yield _split_lines(carry + b"\n", next_line_number)


def read_ahead(urls: list[str], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[str, pa.Table]]:
    """``(url, chunk)`` for every chunk of every file, read one chunk ahead in a background thread."""
    done = object()
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for url in urls:
                for chunk in iter_line_chunks(url, chunk_bytes):
                    if stop.is_set():
                        return
                    ready.put((url, chunk))
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


def _split_lines(data: bytes, first_line_number: int) -> pa.Table:
    """Split ``data`` (which ends with a newline) into one binary value per line, newlines removed."""
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
    table = pa.table({"line_number": numbers, "raw_line": lines})
    # DuckDB scans an Arrow table one record batch per thread: several batches keep every core busy.
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS))


def count_lines(url: str) -> int:
    """Lines in a stored file, counted independently of ``iter_line_chunks`` (for reconciliation)."""
    lines = 0
    last = b"\n"
    with storage.open_binary(url) as raw, _decompressed(url, raw) as stream:
        while block := stream.read(CHUNK_BYTES):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (0 if last == b"\n" else 1)
