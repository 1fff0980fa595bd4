"""Readers keep answering while the pipeline writes: with a read snapshot published (what ``transform`` does after
each build), the explorer answers from it, the same as from the live file, while a writer process holds the
warehouse; without one that is a 503 (tests/explorer/test_api.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
from fastapi.testclient import TestClient

from eventpipe.explorer.app import create_app
from eventpipe.explorer.marts import DuckDBMartsReader
from eventpipe.warehouse import read_snapshot


def test_the_explorer_reads_the_snapshot_while_a_writer_holds_the_warehouse(warehouse_path, tmp_path):
    live = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse_path, live)
    snapshot = tmp_path / "readers" / "read_snapshot.duckdb"
    with duckdb.connect(str(live)) as con:
        published = read_snapshot.publish(con, snapshot)
    assert published["tables"] >= 8 and snapshot.exists()  # the marts and ops.load_batch
    assert not list(snapshot.parent.glob(".*.tmp"))  # written beside it, renamed over it
    free = TestClient(create_app(DuckDBMartsReader(live))).post("/api/journeys/search", json={})  # the live file
    assert free.status_code == 200 and free.json()["rows"]
    client = TestClient(create_app(DuckDBMartsReader(live, lock_wait=1.0, snapshot=snapshot)))

    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True);"
         " time.sleep(60)", str(live)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout.readline().strip() == "locked"
        busy = client.post("/api/journeys/search", json={})
        assert busy.status_code == 200, busy.text
        assert busy.json() == free.json()
        assert client.get("/api/range").status_code == 200
    finally:
        writer.kill()
        writer.wait()


def test_publishing_again_replaces_the_snapshot_whole(warehouse_path, tmp_path):
    live = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse_path, live)
    snapshot = tmp_path / "read_snapshot.duckdb"
    with duckdb.connect(str(live)) as con:
        read_snapshot.publish(con, snapshot)
        reader = duckdb.connect(str(snapshot), read_only=True)  # a reader with the old copy open
        before = reader.execute("select count(*) from marts.fct_sessions").fetchone()[0]
        first = con.execute("select min(session_id) from marts.fct_sessions").fetchone()[0]
        con.execute("delete from marts.fct_sessions where session_id = ?", [first])
        read_snapshot.publish(con, snapshot)
    assert reader.execute("select count(*) from marts.fct_sessions").fetchone()[0] == before  # its copy is intact
    reader.close()
    with duckdb.connect(str(snapshot), read_only=True) as fresh:
        assert fresh.execute("select count(*) from marts.fct_sessions").fetchone()[0] < before
