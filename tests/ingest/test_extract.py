"""Line splitting: every line once, numbered, across chunk boundaries, bytes untouched."""

from __future__ import annotations

import gzip

import pytest

from eventpipe import contract
from eventpipe.ingest import extract
from eventpipe.ingest.linescan import Limits


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


def test_read_ahead_raises_a_reader_error_that_is_not_the_files_fault_in_the_caller(tmp_path):
    (tmp_path / "a.json").mkdir()  # an I/O error the loader cannot pin on the file's content: the load fails
    with pytest.raises(IsADirectoryError):
        list(extract.read_ahead([str(tmp_path / "a.json")]))


def test_read_ahead_stops_its_reader_when_the_caller_stops_early(tmp_path):
    (tmp_path / "a.json").write_bytes(b"x\n" * 1000)
    reader = extract.read_ahead([str(tmp_path / "a.json")] * 50, chunk_bytes=16)
    next(reader)
    reader.close()  # the generator's finally joins the reader thread; a hang here fails by timeout


def lines_of(url: str, **kwargs) -> list[tuple]:
    got = []
    for table in extract.iter_line_chunks(url, **kwargs):
        got += list(zip(*(table[name].to_pylist() for name in table.column_names), strict=True))
    return got


@pytest.mark.parametrize("chunk_bytes", [1, 2, 5, 1 << 20])
def test_a_byte_order_mark_at_the_start_of_a_file_is_not_part_of_its_first_line(tmp_path, chunk_bytes):
    path = tmp_path / "f.json.gz"
    path.write_bytes(gzip.compress(extract.BOM + b'{"a":1}\n\xef\xbb\xbf{"b":2}\n'))
    raw = [row[1] for row in lines_of(str(path), chunk_bytes=chunk_bytes)]
    assert raw == [b'{"a":1}', b'\xef\xbb\xbf{"b":2}']  # only at the start of the file


@pytest.mark.parametrize("chunk_bytes", [3, 7, 100, 1 << 20])
def test_a_line_over_the_cap_keeps_only_prefix_length_and_hash(tmp_path, chunk_bytes):
    import hashlib

    long_line = b'{"x":"' + b"y" * 5000 + b'"}'
    lines = [b"short", long_line, b"z" * 1000, b"tail"]  # 1000 bytes: exactly the cap, still a line
    path = tmp_path / "f.json.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n" + long_line))  # and an unterminated one at the end
    limits = Limits(max_line_bytes=1000, max_depth=64, prefix_bytes=16)
    got = lines_of(str(path), chunk_bytes=chunk_bytes, limits=limits)

    digest = hashlib.sha256(long_line).hexdigest()
    over = (long_line[:16], len(long_line), digest, None)
    assert [row[0] for row in got] == [1, 2, 3, 4, 5]
    assert [tuple(row[1:]) for row in got] == [
        (b"short", 5, None, None),
        over,
        (b"z" * 1000, 1000, None, None),
        (b"tail", 4, None, None),
        over,
    ]


def test_nesting_depth_is_computed_for_lines_that_could_be_too_deep_and_ignores_strings(tmp_path):
    deep = b'{"a":' + b"[" * 70 + b"]" * 70 + b"}"
    in_string = b'{"a":"' + b"[" * 70 + b'"}'
    escaped = b'{"a":"\\"' + b"[" * 70 + b'"}'
    shallow = b'{"a":[[1]]}'
    path = tmp_path / "f.json"
    path.write_bytes(b"\n".join([deep, in_string, escaped, shallow, b""]) + b"\n")
    depths = [row[4] for row in lines_of(str(path), limits=Limits(max_line_bytes=1 << 20, max_depth=64))]
    assert depths == [71, 1, 1, None, None]  # NULL: fewer opening brackets than the cap, so not deeper


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("t.json.gz", gzip.compress(b'{"a":1}\n' * 5000)[:-100], "truncated"),
        ("t2.json.gz", gzip.compress(b"a\n") + gzip.compress(b'{"a":1}\n' * 100)[:20], "truncated"),
        ("z.json.gz", b"\x28\xb5\x2f\xfd" + b"\x00" * 40, "unsupported_compression"),
        ("p.json.gz", b'{"a":1}\n', "unsupported_compression"),
        ("g.ndjson", gzip.compress(b'{"a":1}\n'), "unsupported_compression"),
        ("c.json.gz", gzip.compress(b'{"a":1}\n')[:-8] + b"\x00\x00\x00\x00\x08\x00\x00\x00", "corrupt_compression"),
        ("d.json.gz", gzip.compress(b'{"a":1}\n') + b"garbage after the member", "corrupt_compression"),
    ],
    ids=lambda value: value if isinstance(value, str) else "bytes",  # not the gzip bytes: they hold the time (xdist)
)
def test_a_file_that_cannot_be_read_to_its_end_is_unreadable_with_a_reason(tmp_path, name, body, reason):
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(extract.UnreadableFile) as raised:
        lines_of(str(path), chunk_bytes=64)
    assert raised.value.reason == reason and raised.value.detail
    assert reason in contract.FILE_REASON_CODES


def test_read_ahead_reports_an_unreadable_file_and_goes_on_with_the_next(tmp_path):
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(b"1\n2\n3\n" * 100)[:-30])
    (tmp_path / "b.json").write_bytes(b"4\n")
    urls = [str(tmp_path / "a.json.gz"), str(tmp_path / "gone.json"), str(tmp_path / "b.json")]
    got = list(extract.read_ahead(urls, chunk_bytes=16))
    failures = [(url.rsplit("/", 1)[1], item.reason) for url, item in got if isinstance(item, extract.UnreadableFile)]
    assert failures == [("a.json.gz", "truncated"), ("gone.json", "file_missing")]
    assert [v for url, item in got if url.endswith("b.json") for v in item["raw_line"].to_pylist()] == [b"4"]


def test_memory_stays_bounded_for_a_line_far_over_the_cap(tmp_path):
    """A 1 MiB cap and a 48 MiB line in a small gzip: the reader's peak memory stays far below the line."""
    import subprocess
    import sys

    path = tmp_path / "big.json.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b'{"eventId":"e","pad":"')
        for _ in range(48):
            out.write(b"x" * (1 << 20))
        out.write(b'"}\n{"eventId":"next"}\n')
    script = (
        "import resource, sys\n"
        "from eventpipe.ingest import extract\n"
        "from eventpipe.ingest.linescan import Limits\n"
        "rows = [r for t in extract.iter_line_chunks(sys.argv[1], chunk_bytes=1 << 20,"
        " limits=Limits(1 << 20, 64)) for r in t['line_bytes'].to_pylist()]\n"
        "print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    small = tmp_path / "small.json.gz"
    small.write_bytes(gzip.compress(b'{"eventId":"e","pad":"x"}\n{"eventId":"next"}\n'))
    peaks = {}
    for name in (path, small):  # the same process reading a small file: what imports and Arrow cost alone
        out = subprocess.run([sys.executable, "-c", script, str(name)], capture_output=True, text=True, check=True)
        rows, peak_kib = out.stdout.rsplit(" ", 1)
        peaks[name] = (rows, int(peak_kib))
    assert peaks[path][0] == f"[{48 * (1 << 20) + 24}, 18]" and peaks[small][0] == "[25, 18]"
    grown_mib = (peaks[path][1] - peaks[small][1]) / 1024
    print(f"reader grew by {grown_mib:.0f} MiB")
    assert grown_mib < 24, f"the reader grew by {grown_mib:.0f} MiB for a 48 MiB line"
