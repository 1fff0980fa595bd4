"""Line splitting: every line once, numbered, across chunk boundaries, bytes untouched."""

from __future__ import annotations

import gzip

import pytest

from eventpipe import extract


@pytest.mark.parametrize("chunk_bytes", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("trailing_newline", [True, False])
def test_every_line_comes_back_once_in_order(tmp_path, chunk_bytes, trailing_newline):
    lines = [b'{"a":1}', b"", b"\xff\xfe bad bytes", b"x" * 50, b"\r", b'{"b":"\xc3\xa9"}']
    data = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    path = tmp_path / "f.json.gz"
    path.write_bytes(gzip.compress(data))

    got = []
    for table in extract.iter_line_chunks(str(path), chunk_bytes=chunk_bytes):
        got += list(zip(table["line_number"].to_pylist(), table["raw_line"].to_pylist(), strict=True))

    assert got == list(enumerate(lines, start=1))
    assert extract.count_lines(str(path)) == len(lines)


def test_multi_member_gzip_is_read_whole(tmp_path):
    path = tmp_path / "f.json.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\n"))
    lines = [v for t in extract.iter_line_chunks(str(path)) for v in t["raw_line"].to_pylist()]
    assert lines == [b"a", b"b", b"c"]
    assert extract.count_lines(str(path)) == 3


def test_partition_files_lists_only_landing_suffixes(tmp_path):
    from datetime import datetime

    part = tmp_path / "dt=2026-11-27" / "hour=09"
    part.mkdir(parents=True)
    for name in ("a.json.gz", "b.ndjson.gz", "c.json", "d.ndjson", "e.tmp", "_SUCCESS"):
        (part / name).write_bytes(b"")
    names = [f.url.rsplit("/", 1)[1] for f in extract.partition_files(str(tmp_path), datetime(2026, 11, 27, 9))]
    assert names == ["a.json.gz", "b.ndjson.gz", "c.json", "d.ndjson"]


def test_read_ahead_yields_every_chunk_of_every_file_in_order(tmp_path):
    urls = []
    for name, body in [("a.json", b"1\n2\n3\n"), ("b.json.gz", gzip.compress(b"4\n5\n")), ("c.json", b"")]:
        (tmp_path / name).write_bytes(body)
        urls.append(str(tmp_path / name))
    got = [
        (url.rsplit("/", 1)[1], v)
        for url, t in extract.read_ahead(urls, chunk_bytes=2)
        for v in t["raw_line"].to_pylist()
    ]
    assert got == [("a.json", b"1"), ("a.json", b"2"), ("a.json", b"3"), ("b.json.gz", b"4"), ("b.json.gz", b"5")]


def test_read_ahead_raises_a_reader_error_in_the_caller(tmp_path):
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip at all")
    with pytest.raises(OSError):
        list(extract.read_ahead([str(tmp_path / "bad.json.gz")]))


def test_read_ahead_stops_its_reader_when_the_caller_stops_early(tmp_path):
    (tmp_path / "a.json").write_bytes(b"x\n" * 1000)
    reader = extract.read_ahead([str(tmp_path / "a.json")] * 50, chunk_bytes=16)
    next(reader)
    reader.close()  # the generator's finally joins the reader thread; a hang here fails by timeout
