"""File-level quarantine (design.md, input contract): a landing file that cannot be read to its end is
quarantined whole, the other files of its hour (and of its load group) load, reconcile balances, a
re-run does not read that copy again, and a fixed copy landed later loads once."""

from __future__ import annotations

import gzip
import os

import pytest

from eventpipe import warehouse
from eventpipe.ingest import extract, load, reconcile
from eventpipe.local import report
from tests.conftest import write_landing_file
from tests.ingest.test_validate import HOUR, PARTITION, event, line


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        yield connection


def good_lines(prefix: str, count: int = 200) -> list[bytes]:
    return [line(event(eventId=f"{prefix}-{i}")) for i in range(count)]


def land_hour(landing, truncated_lines: list[bytes]):
    write_landing_file(landing, PARTITION, "a.json.gz", good_lines("a"))
    bad = write_landing_file(landing, PARTITION, "b.json.gz", truncated_lines)
    bad.write_bytes(bad.read_bytes()[:-40])  # cut inside the deflate stream: EOFError at the end
    write_landing_file(landing, PARTITION, "c.json", [*good_lines("c"), b"{not json"])
    return str(bad)


@pytest.mark.slow  # ~10 s each: 256-byte chunks (not in `make test-fast`)
@pytest.mark.parametrize("group_bytes", ["1", str(1 << 30)])  # each file alone / all three in one transaction
def test_a_truncated_file_is_quarantined_whole_and_the_others_load(con, tmp_path, monkeypatch, group_bytes):
    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", group_bytes)
    monkeypatch.setattr(extract, "CHUNK_BYTES", 256)  # many chunks of b are staged before its end fails
    landing = tmp_path / "landing"
    bad = land_hour(landing, good_lines("b", 400))

    result = load.load_interval(con, str(landing), HOUR, run_id="r1")

    assert (result.files_seen, result.files_loaded, result.files_skipped, result.files_quarantined) == (3, 2, 0, 1)
    assert result.quarantined_files == [
        {"source_file": bad, "reason": "truncated", "detail": result.quarantined_files[0]["detail"], "new": True}
    ]
    assert "ended early" in result.quarantined_files[0]["detail"]
    assert (result.lines, result.loaded, result.quarantined) == (401, 400, 1)
    assert result.to_dict()["files_quarantined"] == 1  # the task's return value (XCom) shows it
    ids = {row[0] for row in con.execute("SELECT event_id FROM raw.audit_event").fetchall()}
    assert not any(i.startswith("b-") for i in ids) and len(ids) == 400  # none of b's lines
    assert con.execute("SELECT count(*) FROM raw.quarantined_event WHERE source_file = ?", [bad]).fetchone() == (0,)
    recorded = con.execute("SELECT source_file, reason, file_bytes FROM ops.quarantined_file").fetchall()
    assert recorded == [(bad, "truncated", os.path.getsize(bad))]
    assert [row[0] for row in con.execute("SELECT source_file FROM ops.loaded_file ORDER BY 1").fetchall()] == [
        str(landing / PARTITION / "a.json.gz"),
        str(landing / PARTITION / "c.json"),
    ]

    checked = reconcile.reconcile_interval(con, str(landing), HOUR)
    assert checked.balanced, checked.problems
    assert (checked.files, checked.files_quarantined) == (3, 1)
    assert "1 files quarantined" in checked.summary() and "truncated" in checked.summary()


def test_a_rerun_does_not_retry_the_same_copy_and_a_fixed_copy_loads_once(con, tmp_path):
    landing = tmp_path / "landing"
    bad = land_hour(landing, good_lines("b"))
    load.load_interval(con, str(landing), HOUR, run_id="r1", attempt=1)

    again = load.load_interval(con, str(landing), HOUR, run_id="r1", attempt=2)  # Clear: the same copy
    assert (again.files_skipped, again.files_loaded, again.files_quarantined, again.lines) == (2, 0, 1, 0)
    assert again.quarantined_files[0]["new"] is False and again.quarantined_files[0]["reason"] == "truncated"
    assert con.execute("SELECT count(*) FROM ops.quarantined_file").fetchone() == (1,)  # not read again
    assert report.summarize(con).files_quarantined == 1
    assert "files quarantined               1" in report.render(report.summarize(con))

    # The producer lands a fixed copy under the same name.
    write_landing_file(landing, PARTITION, "b.json.gz", good_lines("b"))
    os.utime(bad, ns=(os.stat(bad).st_atime_ns, os.stat(bad).st_mtime_ns + 1_000_000))  # a new version, surely
    fixed = load.load_interval(con, str(landing), HOUR, run_id="r2")
    assert (fixed.files_loaded, fixed.files_quarantined, fixed.loaded) == (1, 0, 200)
    assert report.summarize(con).files_quarantined == 0
    once_more = load.load_interval(con, str(landing), HOUR, run_id="r3")
    assert (once_more.files_skipped, once_more.files_loaded, once_more.loaded) == (3, 0, 0)
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM raw.audit_event").fetchone() == (600, 600)
    checked = reconcile.reconcile_interval(con, str(landing), HOUR)
    assert checked.balanced and checked.files_quarantined == 0


def test_a_file_gone_between_listing_and_reading_is_quarantined_and_the_hour_still_loads(con, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    write_landing_file(landing, PARTITION, "a.json.gz", good_lines("a", 3))
    gone = write_landing_file(landing, PARTITION, "b.json.gz", good_lines("b", 3))
    first_mtime = os.stat(gone).st_mtime_ns
    listed = extract.partition_files

    def list_then_delete(*args):
        files = listed(*args)
        gone.unlink()  # another process moves it away after the listing
        return files

    monkeypatch.setattr(extract, "partition_files", list_then_delete)
    result = load.load_interval(con, str(landing), HOUR, run_id="r1")
    assert (result.files_loaded, result.loaded, result.quarantined_files[0]["reason"]) == (1, 3, "file_missing")
    monkeypatch.undo()
    # Reconcile lists the hour again: the file is not there, nothing is missing.
    assert reconcile.reconcile_interval(con, str(landing), HOUR).balanced
    # It comes back, the very same bytes and mtime: listed again, so read again, and loaded.
    moved_back = write_landing_file(landing, PARTITION, "b.json.gz", good_lines("b", 3))
    assert not reconcile.reconcile_interval(con, str(landing), HOUR).balanced  # landed, not loaded yet
    os.utime(moved_back, ns=(first_mtime, first_mtime))
    again = load.load_interval(con, str(landing), HOUR, run_id="r2")
    assert (again.files_loaded, again.loaded, again.files_quarantined) == (1, 3, 0)
    assert reconcile.reconcile_interval(con, str(landing), HOUR).balanced


def test_unsupported_compression_is_quarantined_as_a_file(con, tmp_path):
    landing = tmp_path / "landing"
    write_landing_file(landing, PARTITION, "a.json", good_lines("a", 2))
    (landing / PARTITION / "b.json").write_bytes(gzip.compress(b"\n".join(good_lines("b", 2))))  # gzip, named .json
    (landing / PARTITION / "c.json.gz").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(30))  # zstd, named .gz
    result = load.load_interval(con, str(landing), HOUR, run_id="r1")
    reasons = sorted((f["source_file"].rsplit("/", 1)[1], f["reason"]) for f in result.quarantined_files)
    assert reasons == [("b.json", "unsupported_compression"), ("c.json.gz", "unsupported_compression")]
    assert (result.loaded, result.quarantined) == (2, 0)
    assert reconcile.reconcile_interval(con, str(landing), HOUR).balanced
