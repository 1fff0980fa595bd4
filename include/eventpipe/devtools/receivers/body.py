"""Bounded request bodies for the local stand-ins (the HEC receiver, the Heap and GA4 receivers).

A stand-in reads a body only after it has decided to accept the request (route and credential checked on the
headers alone), and never more than it allows:

- a ``Content-Length`` over ``limit`` is refused (``BodyTooLarge``, answered 413) before a byte of the body is read;
- a chunked body is read chunk by chunk and refused as soon as it passes ``limit``;
- a gzip body is inflated a bounded piece at a time (``gunzip``): past ``limit`` decompressed bytes it is refused,
  so a decompression bomb costs at most ``limit`` bytes of memory, never its inflated size.

A refused request's body is left unread; ``finish_unread`` answers it and closes the connection without
resetting it under the client's feet (it drains for a moment, bounded in bytes and time).
"""

from __future__ import annotations

import contextlib
import socket
import time
import zlib
from email.message import Message
from typing import BinaryIO

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # on the wire; HEC, Heap and GA4 clients send well under 1 MB a request
DEFAULT_MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 1024 * 1024
_DRAIN_BYTES = 1024 * 1024
_DRAIN_SECONDS = 1.0


class BodyTooLarge(Exception):
    """The body (as sent, or decompressed) is over the limit: answer 413."""


class BodyUnreadable(Exception):
    """A malformed ``Content-Length`` or chunk, or a body cut short: answer 400."""


def declared_length(headers: Message) -> int | None:
    """The ``Content-Length`` (None when the body is chunked or absent); ``BodyUnreadable`` when it is not a number."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return None
    value = headers.get("Content-Length")
    if value is None or not value.strip():
        return 0
    if not value.strip().isdigit():
        raise BodyUnreadable("Content-Length is not a number")
    return int(value)


def check_length(headers: Message, limit: int) -> None:
    """Refuse, from the headers alone, a body declared over ``limit`` bytes."""
    length = declared_length(headers)
    if length is not None and length > limit:
        raise BodyTooLarge(f"Content-Length {length:,} is over {limit:,} bytes")


def read_body(rfile: BinaryIO, headers: Message, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (``Content-Length`` or chunked)."""
    length = declared_length(headers)
    if length is None:
        return _read_chunked(rfile, limit)
    if length > limit:
        raise BodyTooLarge(f"Content-Length {length:,} is over {limit:,} bytes")
    body = rfile.read(length) if length > 0 else b""
    if len(body) != length:
        raise BodyUnreadable("the body ended before Content-Length")
    return body


def _read_chunked(rfile: BinaryIO, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip() or b"x", 16)
        except ValueError:
            raise BodyUnreadable("malformed chunk size") from None
        if size < 0:
            raise BodyUnreadable("malformed chunk size")
        if size == 0:
            for _ in range(100):  # trailers, bounded
                if rfile.readline(1024) in (b"\r\n", b"\n", b""):
                    break
            return b"".join(parts)
        total += size
        if total > limit:
            raise BodyTooLarge(f"chunked body over {limit:,} bytes")
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise BodyUnreadable("the body ended inside a chunk")
        parts.append(chunk)
        rfile.readline(1024)


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate a gzip body (one member or several), never holding more than ``limit`` decompressed bytes.

    ``BodyTooLarge`` past ``limit``; ``ValueError`` when it is not gzip, corrupt or cut short.
    """
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=31)
        pending = data
        while not inflater.eof:  # a piece at a time: the peak is ``limit`` plus one piece, not twice ``limit``
            try:
                piece = inflater.decompress(pending, min(_PIECE, limit - len(out) + 1))
            except zlib.error as exc:
                raise ValueError(f"not a valid gzip body: {exc}") from None
            out += piece
            if len(out) > limit:
                raise BodyTooLarge(f"the body inflates to over {limit:,} bytes")
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                break
        if not inflater.eof:
            raise ValueError("the gzip body is cut short")
        data = inflater.unused_data
        if data and not data.startswith(_GZIP_MAGIC):
            if data.strip(b"\0"):
                raise ValueError("trailing data after the gzip body")
            break
    return bytes(out)


def finish_unread(connection: socket.socket) -> None:
    """After answering a request whose body was not read: stop sending, drain briefly (bounded), so the answer
    reaches the client instead of being lost to a reset; the caller then closes the connection."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _DRAIN_SECONDS
        drained = 0
        connection.settimeout(0.1)
        while drained < _DRAIN_BYTES and time.monotonic() < deadline:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            drained += len(chunk)
