"""The continuous load (``eventpipe.ingest.pending``): every landed file the ledger has not seen, a bounded amount per
run, once; late files into an old hour's folder; a file landing while a run lists; two runs at once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from eventpipe import warehouse
from eventpipe.ingest import extract, pending, reconcile
from eventpipe.warehouse import DuckDBWarehouse
from tests.conftest import write_landing_file
from tests.ingest.test_validate import event, line

START = datetime(2026, 11, 27, 8)
END = datetime(2026, 11, 27, 11)  # three arrival hours: 08, 09, 10


def partition(hour: datetime) -> str:
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}"


def land(landing, hour: datetime, name: str, count: int = 20, prefix: str | None = None):
    prefix = prefix or f"{hour:%H}-{name}"
    lines = [line(event(eventId=f"{prefix}-{i}", eventTime=f"{hour:%Y-%m-%dT%H}:05:00Z")) for i in range(count)]
    lines.append(b"{not json")  # one quarantined line a file: conservation counts it
    return write_landing_file(landing, partition(hour), name, lines)


@pytest.fixture
def wh(tmp_path):
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        yield DuckDBWarehouse(con)


def raw_ids(wh) -> list[str]:
    return [row[0] for row in wh.con.execute("select event_id from raw.audit_event").fetchall()]


def assert_balanced(wh, landing) -> None:
    for hour in pending.arrival_hours(START, END):
        result = reconcile.reconcile_interval(wh, str(landing), hour)
        assert result.balanced, result.problems


def test_a_bounded_run_loads_the_oldest_files_and_leaves_the_rest_to_the_next(wh, tmp_path):
    landing = tmp_path / "landing"
    for hour, names in ((START, "ab"), (START + timedelta(hours=1), "cd"), (START + timedelta(hours=2), "e")):
        for name in names:
            land(landing, hour, f"{name}.json.gz")
    budget = pending.Budget(max_files=2, max_bytes=1 << 30)

    runs = [pending.load_pending(wh, str(landing), START, END, budget=budget, run_id=f"r{n}") for n in range(4)]

    assert [run.files_loaded for run in runs] == [2, 2, 1, 0]
    assert [run.backlog_files for run in runs] == [3, 1, 0, 0]
    assert [[r.interval_start.hour for r in run.results] for run in runs] == [[8], [9], [10], []]
    assert runs[3].commits == []  # nothing new: no commit, so nothing downstream is woken
    commits = [seq for run in runs for seq in run.commits]
    assert commits == sorted(commits) and len(set(commits)) == len(commits)
    ids = raw_ids(wh)
    assert len(ids) == len(set(ids)) == 5 * 20
    assert_balanced(wh, landing)


def test_the_byte_budget_takes_whole_files_and_at_least_one(wh, tmp_path):
    landing = tmp_path / "landing"
    big = land(landing, START, "a.json.gz", count=2000)
    land(landing, START, "b.json.gz")
    budget = pending.Budget(max_files=100, max_bytes=big.stat().st_size // 2)

    first = pending.load_pending(wh, str(landing), START, END, budget=budget)
    second = pending.load_pending(wh, str(landing), START, END, budget=budget)

    assert (first.files_loaded, first.backlog_files) == (1, 1)  # a.json.gz alone: larger than a run's bytes
    assert (second.files_loaded, second.backlog_files) == (1, 0)


def test_a_late_file_in_an_old_hours_folder_loads_at_the_next_run(wh, tmp_path):
    landing = tmp_path / "landing"
    land(landing, START, "a.json.gz")
    land(landing, START + timedelta(hours=2), "b.json.gz")
    assert pending.load_pending(wh, str(landing), START, END).files_loaded == 2

    land(landing, START, "late.json.gz")  # the producer wrote into the 08:00 folder after it was loaded
    again = pending.load_pending(wh, str(landing), START, END)

    assert again.files_loaded == 1 and [r.interval_start for r in again.results] == [START]
    assert len(raw_ids(wh)) == 60
    assert_balanced(wh, landing)


def test_a_file_landing_while_a_run_lists_its_folder_loads_once(wh, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    land(landing, START, "a.json.gz")
    listed = extract.partition_files
    landed = []

    def listing_then_landing(root, hour):
        files = listed(root, hour)
        if hour == START and not landed:  # lands just after its folder was listed, before the run loads
            landed.append(land(landing, START, "during.json.gz"))
        return files

    monkeypatch.setattr(extract, "partition_files", listing_then_landing)
    first = pending.load_pending(wh, str(landing), START, END)
    second = pending.load_pending(wh, str(landing), START, END)
    third = pending.load_pending(wh, str(landing), START, END)

    assert (first.files_loaded, second.files_loaded, third.files_loaded) == (1, 1, 0)
    assert len(raw_ids(wh)) == len(set(raw_ids(wh))) == 40
    assert_balanced(wh, landing)


def test_two_runs_at_once_load_every_file_once(tmp_path):
    landing = tmp_path / "landing"
    for hour in pending.arrival_hours(START, END):
        for name in "abcdef":
            land(landing, hour, f"{name}.json.gz", count=200)
    path = tmp_path / "wh.duckdb"
    with warehouse.connect(path):
        pass  # the tables exist before two loads race
    outcomes, errors = {}, []

    def run(name: str) -> None:
        try:
            with warehouse.connect(path) as con:
                outcomes[name] = pending.load_pending(DuckDBWarehouse(con), str(landing), START, END, run_id=name)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert sum(outcome.files_loaded for outcome in outcomes.values()) == 18
    with warehouse.connect(path) as con:
        wh = DuckDBWarehouse(con)
        ids = raw_ids(wh)
        assert len(ids) == len(set(ids)) == 18 * 200
        assert con.execute("select count(*) from ops.loaded_file").fetchone() == (18,)
        assert_balanced(wh, landing)


def test_each_batch_reconciles_on_its_own_and_a_lost_row_is_found(wh, tmp_path):
    landing = tmp_path / "landing"
    land(landing, START, "a.json.gz")
    land(landing, START + timedelta(hours=1), "b.json.gz")
    run = pending.load_pending(wh, str(landing), START, END, run_id="r")
    batches = [result.batch_id for result in run.results]

    checked = reconcile.reconcile_batches(wh, batches)
    assert [(r.files, r.lines_landed, r.rows_in_raw, r.rows_in_quarantine) for r in checked] == [(1, 21, 20, 1)] * 2
    assert all(r.balanced for r in checked)

    wh.con.execute("delete from raw.audit_event where event_id = '09-b.json.gz-3'")
    lost = reconcile.reconcile_batches(wh, batches)
    assert lost[0].balanced and not lost[1].balanced
    assert "21 lines landed != 19 in raw" in lost[1].problems[0]
    with pytest.raises(reconcile.ReconciliationError, match=f"batch {batches[1]}"):
        reconcile.assert_reconciled(lost[1])
