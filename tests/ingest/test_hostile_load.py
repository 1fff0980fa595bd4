"""Hostile input through the real load (DuckDB), property-based: hypothesis writes landing hours of
hostile files and lines, one load per example, and every file and line is checked:

- no crash: the load of the hour returns;
- conservation per file: lines = loaded + duplicates + quarantined (ledger and tables), or the file is
  quarantined whole with the expected reason and none of its lines is anywhere;
- each line's fate is the expected one: a valid event is kept once (its first copy in file, line order)
  or counted a duplicate; a bad line is quarantined with the reason its generator aims at, byte for byte
  (an over-cap line: its prefix, its length and sha256 in the detail);
- tenant safety: every kept row carries the organization and session of the very line it came from.

Inputs: BOMs, CRLF, files without a final newline, empty files, plain, gzip, multi-member gzip,
truncated and corrupt gzip, garbage after a gzip member, zstd named .gz, gzip named .json, every line
reason code, lines over the cap (streamed across chunk boundaries), deep nesting, odd Unicode, escaped
NULs and lone surrogates, numbers out of range, hostile organization ids, session ids reused across
organizations, event ids repeated across files. Deterministic (derandomize). The test prints how many
files and lines it ran.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe import warehouse
from eventpipe.contract import LINE_REASON_CODES as ALL_REASON_CODES
from eventpipe.ingest import extract, load, reconcile
from tests.ingest.test_validate import HOUR, PARTITION

MAX_LINE_BYTES = 2048  # the cap for this suite (EVENTPIPE_MAX_LINE_BYTES): over-cap lines stay cheap
PREFIX_BYTES = 4096
ORGS = ("acme", "globex", "initech")
SESSIONS = ("s-1", "s-2")  # reused by every organization
HOSTILE_ORG_IDS = (
    "../../escape",
    "x/../globex",
    "globex/",
    "org\u0000",
    "org\n",
    "a" * 129,
    "ørg",
    "org 1",
    "..",
    "acme\u202e",
)
SAFE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # odd Unicode, NULs included
TOTALS: Counter = Counter()


@dataclass
class Line:
    raw: bytes  # the line's bytes, without line end
    reason: str | None  # expected quarantine reason; None: a valid event
    event_id: str | None = None
    org: str | None = None
    session: str | None = None


@dataclass
class File:
    name: str
    lines: list[Line]
    bom: bool
    crlf: bool
    final_newline: bool
    packing: str  # plain, gzip, members, truncated, corrupt, zstd, gzip_as_plain
    expected_file_reason: set[str] = field(default_factory=set)


def encode(obj: dict, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode()


@st.composite
def valid_event(draw) -> tuple[dict, str, str | None]:
    kind = draw(st.sampled_from(("Session", "Audit", "Platform")))
    org = draw(st.sampled_from(ORGS))
    obj = {
        "eventId": f"e-{draw(st.integers(0, 40))}",  # repeats across lines and files: duplicates
        "organizationId": org,
        "eventTime": draw(st.sampled_from(("2026-11-27T10:05:00Z", 1795773900000, "2026-11-27T12:00:00+02:00"))),
        "kind": kind,
        "type": draw(st.sampled_from(("page_view", "user_login", "service_error"))),
    }
    session = None
    if kind == "Session":
        session = draw(st.sampled_from(SESSIONS))
        obj |= {"appId": "app", "sessionId": session}
    extra = draw(
        st.sampled_from(("none", "text", "nul", "big_int", "huge_float", "duration", "nested", "brackets_in_string"))
    )
    if extra == "text":
        obj["note"] = draw(SAFE_TEXT)
    elif extra == "nul":
        obj["note"] = "a\u0000b"
    elif extra == "big_int":
        obj["count"] = 2**80
    elif extra == "duration":
        obj["durationMillis"] = draw(st.sampled_from((10**30, -(2**70), 1.5e300)))
    elif extra == "nested":
        depth = draw(st.integers(1, 62))  # with the event object: at most 63 levels, under the cap
        obj["deep"] = json.loads("[" * depth + "]" * depth)
    elif extra == "brackets_in_string":
        obj["note"] = "[" * 100 + '{\\"' * 30
    return obj, org, session


@st.composite
def line(draw) -> Line:
    code = draw(st.sampled_from((*[None] * 9, *ALL_REASON_CODES, "lone_surrogate")))
    obj, org, session = draw(valid_event())
    ascii_only = draw(st.booleans())
    raw = encode(obj, ascii_only)
    if code is None:
        if draw(st.booleans()) and obj["eventTime"] != 1795773900000:
            raw = raw.replace(b'"kind"', b'"huge":1e400, "kind"', 1)  # a number out of any float's range
        return Line(raw, None, obj["eventId"], org, session)
    obj["eventId"] = f"bad-{draw(st.integers(0, 10**9))}"
    if code == "line_too_long":
        obj["pad"] = "x" * draw(st.integers(MAX_LINE_BYTES, 3 * PREFIX_BYTES))
        return Line(encode(obj, ascii_only), code)
    if code == "invalid_utf8":
        return Line(raw[:-1] + b',"name":"caf\xe9"}', code)
    if code == "empty_line":
        return Line(draw(st.sampled_from((b"", b" ", b"\t", b"  \t "))), code)
    if code == "invalid_json":
        cut = draw(st.integers(1, len(raw) - 1))
        return Line(raw[:cut] if raw[:cut].strip() else b"{", code)
    if code == "lone_surrogate":  # valid to Python's json, not to DuckDB's: invalid JSON
        return Line(raw[:-1] + b',"x":"\\ud800"}', "invalid_json")
    if code == "too_deeply_nested":
        depth = draw(st.integers(64, 400))
        return Line(raw[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}", code)
    if code == "not_an_object":
        return Line(draw(st.sampled_from((b"[1,2]", b"42", b'"text"', b"null", b"true"))), code)
    if code == "missing_required_field":
        del obj[draw(st.sampled_from(("eventId", "organizationId", "eventTime", "kind", "type")))]
    elif code == "invalid_field_type":
        obj[draw(st.sampled_from(("eventId", "organizationId", "type")))] = draw(st.sampled_from((7, [1], {"a": 1})))
    elif code == "invalid_organization_id":
        obj["organizationId"] = draw(st.sampled_from(HOSTILE_ORG_IDS))
    elif code == "unknown_kind":
        obj["kind"] = draw(st.sampled_from(("session", "Billing", "AUDIT")))
    elif code == "invalid_event_time":
        obj["eventTime"] = draw(st.sampled_from(("2026-11-27T10:05:00", "yesterday", -5, 1.5)))
    elif code == "event_time_out_of_range":
        obj["eventTime"] = draw(st.sampled_from(("1999-01-01T00:00:00Z", "2031-01-01T00:00:00Z", 0)))
    return Line(encode(obj, ascii_only), code)


@st.composite
def landing_file(draw, index: int) -> File:
    packing = draw(
        st.sampled_from(
            (
                "plain",
                "plain",
                "gzip",
                "gzip",
                "members",
                "members",
                "truncated",
                "corrupt",
                "garbage",
                "zstd",
                "gzip_as_plain",
            )
        )
    )
    suffix = ".json.gz" if packing in ("gzip", "members", "truncated", "corrupt", "garbage", "zstd") else ".ndjson"
    lines = draw(st.lists(line(), max_size=30))
    file = File(f"f{index:03d}{suffix}", lines, draw(st.booleans()), draw(st.booleans()), draw(st.booleans()), packing)
    if packing == "truncated" and lines:
        file.expected_file_reason = {"truncated"}
    elif packing == "corrupt" and lines:
        file.expected_file_reason = {"truncated", "corrupt_compression"}
    elif packing == "garbage":
        file.expected_file_reason = {"corrupt_compression"}
    elif packing in ("zstd", "gzip_as_plain"):
        file.expected_file_reason = {"unsupported_compression"}
    return file


def body(file: File) -> bytes:
    end = b"\r\n" if file.crlf else b"\n"
    text = end.join(item.raw for item in file.lines)
    if file.lines and (file.final_newline or not file.lines[-1].raw):
        text += end  # a last line that is empty needs its newline to exist at all
    return (b"\xef\xbb\xbf" if file.bom else b"") + text


def packed(file: File) -> bytes:
    data = body(file)
    if file.packing == "plain":
        return data
    if file.packing == "gzip_as_plain":
        return gzip.compress(data)
    if file.packing == "zstd":
        return b"\x28\xb5\x2f\xfd" + data
    if file.packing == "members":
        half = len(data) // 2
        return gzip.compress(data[:half]) + gzip.compress(data[half:])
    compressed = gzip.compress(data)
    if file.packing == "garbage":
        return compressed + b"not a gzip member"
    if file.packing == "truncated" and file.lines:
        return compressed[: len(compressed) - 9]  # inside the deflate stream or its trailer
    if file.packing == "corrupt" and file.lines:
        corrupt = bytearray(compressed)
        corrupt[len(corrupt) // 2] ^= 0x55
        return bytes(corrupt)
    return compressed


def expected_lines(file: File) -> list[tuple[bytes, Line]]:
    """(the bytes the reader sees as the line, the line) for every line of the file."""
    seen = [(item.raw + (b"\r" if file.crlf else b""), item) for item in file.lines]
    if seen and file.crlf and not file.final_newline and file.lines[-1].raw:
        seen[-1] = (file.lines[-1].raw, file.lines[-1])  # no line end at all after the last line
    return seen


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,  # no replay of examples saved by earlier runs: every run the same inputs
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(
    files=st.integers(1, 12).flatmap(lambda n: st.tuples(*(landing_file(i) for i in range(n)))),
    chunk_bytes=st.sampled_from((61, 700, 5000, 1 << 16)),
)
def hostile_hours(tmp_path_factory, files, chunk_bytes):
    root = tmp_path_factory.mktemp("hostile")
    landing = root / "landing"
    (landing / PARTITION).mkdir(parents=True)
    for file in files:
        (landing / PARTITION / file.name).write_bytes(packed(file))
    saved = extract.CHUNK_BYTES
    extract.CHUNK_BYTES = chunk_bytes
    try:
        with warehouse.connect(root / "wh.duckdb") as con:
            result = load.load_interval(con, str(landing), HOUR, run_id="hostile")
            check(con, str(landing), files, result)
    finally:
        extract.CHUNK_BYTES = saved
    TOTALS["loads"] += 1
    TOTALS["files"] += len(files)
    TOTALS["lines"] += sum(len(file.lines) for file in files)


def check(con, landing: str, files, result) -> None:
    url = {file.name: f"{landing}/{PARTITION}/{file.name}" for file in files}
    quarantined_files = {entry["source_file"]: entry["reason"] for entry in result.quarantined_files}
    ledger = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT source_file, lines, loaded, duplicates, quarantined FROM ops.loaded_file"
        ).fetchall()
    }
    quarantine = {
        (row[0], row[1]): row[2:]
        for row in con.execute(
            "SELECT source_file, line_number, reason, raw_line, detail FROM raw.quarantined_event"
        ).fetchall()
    }
    kept = {
        (row[0], row[1]): row[2:]
        for row in con.execute(
            "SELECT _source_file, _line_number, event_id, organization_id, session_id FROM raw.session_event"
            " UNION ALL SELECT _source_file, _line_number, event_id, organization_id, NULL FROM raw.audit_event"
            " UNION ALL SELECT _source_file, _line_number, event_id, organization_id, NULL FROM raw.platform_event"
        ).fetchall()
    }
    first_copy: dict[str, tuple[str, int]] = {}
    for file in sorted(files, key=lambda f: url[f.name]):
        source = url[file.name]
        if file.expected_file_reason:
            assert quarantined_files.get(source) in file.expected_file_reason, (file.name, file.packing)
            assert source not in ledger
            assert not any(key[0] == source for key in (*quarantine, *kept))
            TOTALS[f"file:{quarantined_files[source]}"] += 1
            continue
        assert source not in quarantined_files, (file.name, quarantined_files.get(source))
        lines = expected_lines(file)
        count, loaded, duplicates, quarantined = ledger[source]
        assert count == len(lines) == loaded + duplicates + quarantined
        TOTALS["checked files"] += 1
        TOTALS["checked lines"] += len(lines)
        for number, (raw, item) in enumerate(lines, start=1):
            key = (source, number)
            if item.reason is None:
                TOTALS["line:valid"] += 1
                first_copy.setdefault(item.event_id, key)
                if first_copy[item.event_id] == key:
                    event_id, org, session = kept[key]
                    assert (event_id, org) == (item.event_id, item.org)  # never another organization's
                    assert session == item.session or session is None
                else:
                    assert key not in kept and key not in quarantine
                continue
            TOTALS[f"line:{item.reason}"] += 1
            reason, stored, detail = quarantine[key]
            assert reason == item.reason, (raw[:200], reason, detail)
            if reason == "line_too_long":
                assert stored == raw[:PREFIX_BYTES]
                assert f"line of {len(raw)} bytes" in detail and hashlib.sha256(raw).hexdigest() in detail
            else:
                assert stored == raw  # byte for byte, CR included
            assert key not in kept
    assert len(kept) == len(first_copy)
    checked = reconcile.reconcile_interval(con, landing, HOUR)
    assert checked.balanced, checked.problems


@pytest.mark.slow  # tens of seconds: one real load per hypothesis example (not in `make test-fast`)
def test_hostile_landing_hours_load_without_crash_and_every_line_is_accounted_for(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVENTPIPE_MAX_LINE_BYTES", str(MAX_LINE_BYTES))
    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", "4096")  # groups of a few files: partial groups too
    TOTALS.clear()
    started = time.perf_counter()
    hostile_hours(tmp_path_factory)
    seconds = time.perf_counter() - started
    print(
        f"\nhostile load suite: {TOTALS['loads']} loads, {TOTALS['files']} files, {TOTALS['lines']} lines"
        f" in {seconds:.1f}s; {dict(sorted(TOTALS.items()))}"
    )
    assert TOTALS["checked files"] + TOTALS["checked lines"] >= 1000
    assert all(TOTALS[f"line:{code}"] for code in ALL_REASON_CODES), TOTALS
    assert all(TOTALS[f"file:{code}"] for code in ("truncated", "corrupt_compression", "unsupported_compression"))
