"""Per-line limits checked on the raw bytes, vectorised with numpy: length over the line cap, and
JSON nesting depth (brackets inside strings do not count).

Why 64 levels by default: an event of the contract nests 3 levels deep (``analyticsEvent.properties``
holding a value); 64 leaves room for any real payload and stays far below what every consumer of a
loaded payload can parse or walk: Python's ``json`` and ``msgspec`` stop near 1,000 levels (the
recursion limit, and less when the caller is already deep in a stack, as a delivery task is),
DuckDB's and Snowflake's JSON functions and the explorer's browser ``JSON.parse`` recurse too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventpipe import settings

PREFIX_BYTES = 4096  # what quarantine keeps of an over-cap line
_QUOTE, _BACKSLASH = 34, 92
_OPEN = (91, 123)  # [ {
_CLOSE = (93, 125)  # ] }


@dataclass(frozen=True)
class Limits:
    max_line_bytes: int
    max_depth: int
    prefix_bytes: int = PREFIX_BYTES

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(settings.max_line_bytes(), settings.max_json_depth())


class OverlongLine:
    """A line past the cap, read piece by piece: only its prefix, a running sha256 and its length are kept."""

    def __init__(self, first_piece: bytes, prefix_bytes: int):
        self.prefix = bytes(first_piece[:prefix_bytes])
        self.prefix_bytes = prefix_bytes
        self.hash = hashlib.sha256(first_piece)
        self.length = len(first_piece)

    def update(self, piece: bytes) -> None:
        if len(self.prefix) < self.prefix_bytes:
            self.prefix += piece[: self.prefix_bytes - len(self.prefix)]
        self.hash.update(piece)
        self.length += len(piece)

    def table(self, line_number: int) -> pa.Table:
        return pa.table(
            {
                "line_number": pa.array([line_number], pa.int64()),
                "raw_line": pa.array([self.prefix], pa.large_binary()),
                "line_bytes": pa.array([self.length], pa.int64()),
                "line_sha256": pa.array([self.hash.hexdigest()], pa.string()),
                "nesting_depth": pa.array([None], pa.int32()),
            }
        )


def annotate(line_numbers: pa.Array, lines: pa.Array, values: np.ndarray, offsets: np.ndarray, limits: Limits):
    """The line table: ``line_number, raw_line, line_bytes, line_sha256, nesting_depth``.

    ``values``/``offsets`` are ``lines``' Arrow buffers as numpy arrays. Lines over the cap are cut
    to their prefix with their sha256 (of the whole line) set; ``nesting_depth`` is computed only
    for lines with more opening brackets than the depth cap (no other line can be deeper), else NULL.
    """
    lengths = np.diff(offsets)
    over = lengths > limits.max_line_bytes
    depth = _depths(values, offsets, lengths, over, limits.max_depth)
    sha = None
    if over.any():
        over_mask = pa.array(over)
        lines = pc.if_else(over_mask, pc.binary_slice(lines, 0, limits.prefix_bytes), lines)
        digests: list[str | None] = [None] * len(lengths)
        for i in np.flatnonzero(over):
            digests[i] = hashlib.sha256(values[offsets[i] : offsets[i + 1]]).hexdigest()
        sha = pa.array(digests, pa.string())
    return pa.table(
        {
            "line_number": line_numbers,
            "raw_line": lines,
            "line_bytes": pa.array(lengths, pa.int64()),
            "line_sha256": sha if sha is not None else pa.nulls(len(lengths), pa.string()),
            "nesting_depth": depth,
        }
    )


def lines_table(line_numbers: list[int], raw_lines: list[bytes], limits: Limits) -> pa.Table:
    """``annotate`` for lines given one by one (quarantine replay)."""
    lines = pa.array(raw_lines, pa.large_binary())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[: len(lines) + 1]
    values_buffer = lines.buffers()[2]
    values = np.frombuffer(values_buffer, dtype=np.uint8) if values_buffer is not None else np.empty(0, np.uint8)
    return annotate(pa.array(line_numbers, pa.int64()), lines, values, offsets, limits)


def _depths(values, offsets, lengths, over, max_depth: int) -> pa.Array:
    count = len(lengths)
    # '[' (0x5B) and '{' (0x7B) are the only bytes that OR 0x20 makes 0x7B: one pass finds both.
    openings = np.flatnonzero((values | 0x20) == 0x7B)
    if len(openings) <= max_depth:
        return pa.nulls(count, pa.int32())
    per_line = np.searchsorted(openings, offsets[1:]) - np.searchsorted(openings, offsets[:-1])
    candidates = np.flatnonzero((per_line > max_depth) & ~over)
    if not len(candidates):
        return pa.nulls(count, pa.int32())
    depths: list[int | None] = [None] * count
    for i in candidates:
        depths[i] = nesting_depth(values[offsets[i] : offsets[i + 1]])
    return pa.array(depths, pa.int32())


def nesting_depth(line: np.ndarray | bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings not counted."""
    data = np.frombuffer(line, dtype=np.uint8) if isinstance(line, bytes | bytearray) else line
    if not len(data):
        return 0
    quote = data == _QUOTE
    backslash = data == _BACKSLASH
    if backslash.any():
        # A quote is escaped when an odd run of backslashes precedes it.
        positions = np.arange(len(data))
        last_other = np.maximum.accumulate(np.where(backslash, -1, positions))
        quotes = np.flatnonzero(quote)
        quotes = quotes[quotes > 0]
        run = (quotes - 1) - last_other[quotes - 1]
        quote[quotes[run % 2 == 1]] = False
    inside = np.bitwise_xor.accumulate(quote.astype(np.uint8)).astype(bool)
    delta = np.zeros(len(data), dtype=np.int8)
    delta[(data == _OPEN[0]) | (data == _OPEN[1])] = 1
    delta[(data == _CLOSE[0]) | (data == _CLOSE[1])] = -1
    delta[inside] = 0
    return int(max(np.cumsum(delta, dtype=np.int32).max(), 0))
