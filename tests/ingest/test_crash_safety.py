"""Crash safety of the embedded target: the load process is killed with SIGKILL in the middle of a group
(its transaction open: lines being validated, or raw rows inserted and the ledger not yet written), then
the hour is loaded again. Every line ends up exactly once: loaded, a duplicate, or quarantined."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from eventpipe import warehouse
from eventpipe.ingest import load, reconcile
from tests.conftest import write_landing_file
from tests.ingest.test_validate import HOUR, PARTITION, event, line

# Runs in the child: the real load, with two observation points patched in from test code only. The
# child writes the marker when it reaches the point, then slows down there so the kill lands inside.
CHILD = """
import sys, time
from datetime import datetime
from pathlib import Path
from eventpipe import warehouse
from eventpipe.ingest import extract, load, validate
from eventpipe.sql import load_sql
from eventpipe.warehouse import duckdb_engine

landing, database, marker, point = sys.argv[1:5]
extract.CHUNK_BYTES = 16 * 1024  # many chunks per file: a long group
chunks = {"n": 0}
validate_chunk = validate.validate_chunk


def observed_validate_chunk(con, source_file, *args):
    validate_chunk(con, source_file, *args)
    if point == "validating" and source_file.endswith("b.json.gz"):
        chunks["n"] += 1
        if chunks["n"] == 3:
            Path(marker).write_text("inside stage_group, validating b")
        if chunks["n"] >= 3:
            time.sleep(0.5)


seen = []
stage_group = validate.stage_group


def observed_load_sql(engine, name):
    if point == "inserted" and name == "insert_loaded_file" and any(u.endswith("b.json.gz") for u in seen):
        Path(marker).write_text("raw rows of b inserted, ledger not written, not committed")
        time.sleep(60)
    return load_sql(engine, name)


def observed_stage_group(con, urls, *args):
    seen.extend(urls)
    return stage_group(con, urls, *args)


validate.validate_chunk = observed_validate_chunk
validate.stage_group = observed_stage_group
duckdb_engine.load_sql = observed_load_sql
with warehouse.connect(database) as con:
    load.load_interval(con, landing, datetime(2026, 11, 27, 10), run_id="r")
print("finished without being killed")
"""


def land(landing) -> tuple[int, int, int]:
    """a: a small file (its own group, committed before the kill); b: a big one with duplicates and bad lines."""
    a = [line(event(eventId=f"a-{i}")) for i in range(50)]
    b = []
    for i in range(6000):
        b.append(line(event(eventId=f"b-{i}", pad="x" * 40)))
        if i % 10 == 0:
            b.append(line(event(eventId=f"b-{i // 2}")))  # a duplicate of an earlier line
        if i % 97 == 0:
            b.append(b"{not json " + str(i).encode())
    write_landing_file(landing, PARTITION, "a.json.gz", a)
    write_landing_file(landing, PARTITION, "b.json.gz", b)
    distinct = 50 + 6000
    bad = sum(1 for i in range(6000) if i % 97 == 0)
    return len(a) + len(b), distinct, bad


@pytest.mark.parametrize("point", ["validating", "inserted"])
def test_sigkill_inside_a_group_then_rerun_loads_every_line_exactly_once(tmp_path, monkeypatch, point):
    landing, database, marker = tmp_path / "landing", tmp_path / "wh.duckdb", tmp_path / "marker"
    lines, distinct, bad = land(landing)
    env = os.environ | {"EVENTPIPE_LOAD_GROUP_BYTES": "1"}  # every file its own group
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(landing), str(database), str(marker), point],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never reached the kill point"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL and b"finished" not in out

    with warehouse.connect(database) as con:
        # a's group committed before the kill; nothing of b's group survived it.
        assert con.execute("SELECT source_file FROM ops.loaded_file").fetchall() == [
            (str(landing / PARTITION / "a.json.gz"),)
        ]
        assert con.execute("SELECT count(*) FROM raw.audit_event WHERE event_id LIKE 'b-%'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM raw.quarantined_event").fetchone() == (0,)

        monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", "1")
        rerun = load.load_interval(con, str(landing), HOUR, run_id="r", attempt=2)
        assert (rerun.files_skipped, rerun.files_loaded) == (1, 1)
        total, unique = con.execute("SELECT count(*), count(DISTINCT event_id) FROM raw.audit_event").fetchone()
        assert total == unique == distinct
        assert con.execute("SELECT count(*) FROM raw.quarantined_event").fetchone() == (bad,)
        checked = reconcile.reconcile_interval(con, str(landing), HOUR)
        assert checked.balanced, checked.problems
        assert checked.lines_landed == lines == checked.rows_in_raw + checked.duplicates + checked.rows_in_quarantine
