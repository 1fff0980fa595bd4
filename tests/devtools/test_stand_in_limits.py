"""The local stand-ins (HEC, Heap, GA4 receivers) are bounded whatever a client sends (issue 9, item 5).

Every request here goes over a real loopback socket, written by hand so that a test can declare a body far larger
than what it sends, stream chunks past the limit, or send a gzip bomb; what the receivers wrote is read back from
their files.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import tracemalloc
import zlib
from urllib.parse import urlsplit

import pytest

from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
from eventpipe.devtools.receivers.body import BodyTooLarge, gunzip
from eventpipe.devtools.receivers.hec import HecReceiver

TOKEN = "5b1e3c0a-7d44-4b8e-9a51-0c2f6e9d1a11"
API_SECRET = "ga4-secret-Zq8xWv3"
HEC_EVENT = "/services/collector/event"
GA4_COLLECT = f"/mp/collect?measurement_id=G-TEST0001&api_secret={API_SECRET}"
PROMPT_S = 3.0  # an answer that waits for a body never sent would take the client's whole timeout (10 s)


def exchange(url: str, head: str, body: bytes = b"", *, timeout: float = 10.0) -> tuple[int, bytes, float]:
    """Send a request head (and part of a body) on a raw socket; return (status, answer body, seconds taken)."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            return 0, b"", time.monotonic() - started
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, answer.partition(b"\r\n\r\n")[2], time.monotonic() - started


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def request_head(path: str, *headers: str) -> str:
    return "".join(f"{line}\r\n" for line in (f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers))


@pytest.fixture
def stand_ins(tmp_path):
    """The three receivers, each with a small body limit (64 KiB) and inflation limit (1 MiB)."""
    limits = {"max_body_bytes": 64 * 1024, "max_decompressed_bytes": 1024 * 1024}
    hec = HecReceiver(tokens={TOKEN: {"ack": False}}, out_dir=tmp_path / "splunk", **limits).start()
    heap = HeapReceiver(tmp_path / "heap", **limits).start()
    ga4 = Ga4Receiver(tmp_path / "ga4", api_secret=API_SECRET, **limits).start()
    yield {"hec": hec, "heap": heap, "ga4": ga4}
    for server in (hec, heap, ga4):
        server.stop()


ACCEPTED = {  # (path, headers) a request each receiver accepts as far as the headers go
    "hec": (HEC_EVENT, (f"Authorization: Splunk {TOKEN}",)),
    "heap": ("/api/track", ()),
    "ga4": (GA4_COLLECT, ()),
}


def written(tmp_path) -> list:
    return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ndjson"))


@pytest.mark.parametrize("name", ["hec", "heap", "ga4"])
def test_a_body_declared_over_the_limit_is_answered_413_at_once_unread(stand_ins, tmp_path, name):
    path, headers = ACCEPTED[name]
    head = request_head(path, *headers, f"Content-Length: {10 * 1024**3}", "Content-Type: application/json")
    status, _, seconds = exchange(stand_ins[name].url, head, b'{"events": [' + b" " * 1000)
    assert status == 413 and seconds < PROMPT_S
    assert written(tmp_path) == []


@pytest.mark.parametrize("name", ["hec", "heap", "ga4"])
def test_a_chunked_body_past_the_limit_is_refused_as_it_streams(stand_ins, tmp_path, name):
    path, headers = ACCEPTED[name]
    head = request_head(path, *headers, "Transfer-Encoding: chunked")
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"  # 16 KiB a chunk, 5 of them: past the 64 KiB limit
    status, _, seconds = exchange(stand_ins[name].url, head, chunk * 5 + b"0\r\n\r\n")
    assert status == 413 and seconds < PROMPT_S
    assert written(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "path", "headers", "status"),
    [
        ("hec", HEC_EVENT, (), 401),  # no token
        ("hec", HEC_EVENT, ("Authorization: Splunk 00000000-0000-4000-8000-000000000000",), 403),
        ("ga4", "/mp/collect?measurement_id=G-TEST0001&api_secret=wrong", (), 403),
        ("heap", "/api/elsewhere", (), 404),
    ],
)
def test_the_credential_and_path_are_checked_before_the_body(stand_ins, tmp_path, name, path, headers, status):
    """A wrong token with a body declared at 10 GiB (under the limit it would be read first): answered at once."""
    stand_ins[name].max_body_bytes = 100 * 1024**3  # the size check cannot be what answers
    head = request_head(path, *headers, f"Content-Length: {10 * 1024**3}")
    answer, _, seconds = exchange(stand_ins[name].url, head, b"x" * 1000)
    assert answer == status and seconds < PROMPT_S
    assert written(tmp_path) == []


def bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1024 * 1024)
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


@pytest.mark.parametrize("name", ["hec", "heap", "ga4"])
def test_a_gzip_bomb_is_refused_with_bounded_memory(stand_ins, tmp_path, name):
    """64 MiB of zeros in ~64 KiB of gzip (under the body limit): refused once 1 MiB is inflated; memory stays
    near the limit, not the inflated size."""
    body = bomb(64 * 1024 * 1024)
    assert len(body) < 64 * 1024
    path, headers = ACCEPTED[name]
    head = request_head(path, *headers, f"Content-Length: {len(body)}", "Content-Encoding: gzip")
    tracemalloc.start()
    try:
        status, _, _ = exchange(stand_ins[name].url, head, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 413
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes"
    assert written(tmp_path) == []


def test_gunzip_inflates_concatenated_members_and_refuses_corrupt_ones():
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"
    large = bytes(range(256)) * 12_000  # ~3 MiB: inflated over several pieces, exactly at the limit
    assert gunzip(gzip.compress(large), len(large)) == large
    with pytest.raises(BodyTooLarge):
        gunzip(gzip.compress(b"x" * 11), 10)
    for corrupt in (gzip.compress(b"abc")[:-5], b"not gzip", gzip.compress(b"a") + b"junk"):
        with pytest.raises(ValueError):
            gunzip(corrupt, 10)


def post_json(url: str, path: str, document: object, *headers: str) -> tuple[int, dict]:
    body = json.dumps(document).encode()
    status, answer, _ = exchange(url, request_head(path, *headers, f"Content-Length: {len(body)}"), body)
    return status, json.loads(answer) if answer else {}


@pytest.mark.parametrize("index", ["main\n", "main\r\n", "\nmain", "Main", "../main"])
def test_an_index_name_must_match_in_full(stand_ins, tmp_path, index):
    hec = stand_ins["hec"]
    document = {"event": {"n": 1}, "index": index}
    assert post_json(hec.url, HEC_EVENT, document, f"Authorization: Splunk {TOKEN}") == (
        400,
        {"text": "Incorrect index", "code": 7, "invalid-event-number": 0},
    )
    raw = f"/services/collector/raw?index={index.replace(chr(10), '%0A').replace(chr(13), '%0D')}"
    status, answer = post_json(hec.url, raw, "x", f"Authorization: Splunk {TOKEN}")
    assert (status, answer["code"]) == (400, 7)
    assert written(tmp_path) == []


def test_json_nested_too_deeply_is_invalid_data_not_an_internal_error(stand_ins, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    body = ('{"event": ' + deep + "}").encode()
    head = request_head(HEC_EVENT, f"Authorization: Splunk {TOKEN}", f"Content-Length: {len(body)}")
    stand_ins["hec"].max_body_bytes = len(body)
    status, answer, _ = exchange(stand_ins["hec"].url, head, body)
    assert (status, json.loads(answer)["code"]) == (400, 6)
    stand_ins["heap"].max_body_bytes = len(body)
    head = request_head("/api/track", f"Content-Length: {len(body)}")
    assert exchange(stand_ins["heap"].url, head, body)[0] == 400
    assert written(tmp_path) == []
