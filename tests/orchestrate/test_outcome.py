"""What event_pipeline's tasks log and return, and check_volume, on a real DuckDB warehouse loaded by the real
loader (no Airflow; tests/dags/test_pipeline_outcomes.py runs the tasks through dag.test()).

GIVEN arrival hours loaded a week apart: 06:00 with many sessions on 11-20 and few on 11-27; 07:00 the same on
both days; 08:00 landing nothing on 11-27; 09:00 landing only a truncated file,
THEN check_volume flags 06:00 (below half of a week earlier), 08:00 (no landing files) and 09:00 (no line
loaded), passes 07:00 and an hour with no week-earlier baseline, and the load's table and summary carry the
counts per kind and reason and the quarantined file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from eventpipe import warehouse
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest.load import load_interval
from eventpipe.ingest.reconcile import reconcile_interval
from eventpipe.orchestrate import outcome
from tests.conftest import write_landing_file

WEEK_AGO, TODAY = datetime(2026, 11, 20, 6), datetime(2026, 11, 27, 6)


def _event(i: int, hour: datetime) -> bytes:
    return json.dumps(
        {"eventId": f"e-{hour:%d%H}-{i}", "organizationId": "org-a", "eventTime": f"{hour:%Y-%m-%dT%H}:05:00Z",
         "kind": "Audit", "type": "user_login", "userId": "u1"}
    ).encode()  # fmt: skip


def test_check_volume_flags_an_empty_a_thin_and_an_unreadable_hour(eventpipe_home, tmp_path):
    landing = tmp_path / "landing"
    generate(landing=str(landing), start=WEEK_AGO, hours=2, orgs=2, sessions_per_hour=8, seed=1, files_per_hour=2)
    generate(landing=str(landing), start=TODAY, hours=1, orgs=2, sessions_per_hour=1, seed=2, files_per_hour=1)
    same = TODAY + timedelta(hours=1)
    generate(landing=str(landing), start=same, hours=1, orgs=2, sessions_per_hour=8, seed=1, files_per_hour=2)
    unreadable = TODAY + timedelta(hours=3)
    partition = f"dt={unreadable:%Y-%m-%d}/hour={unreadable:%H}"
    path = write_landing_file(landing, partition, "cut.json.gz", [_event(i, unreadable) for i in range(200)])
    path.write_bytes(path.read_bytes()[:-40])
    with warehouse.connect(eventpipe_home / "warehouse.duckdb") as con:
        target = warehouse.as_warehouse(con)
        hours = [WEEK_AGO, WEEK_AGO + timedelta(hours=1), TODAY, same, TODAY + timedelta(hours=2), unreadable]
        results = {hour: load_interval(con, str(landing), hour, run_id="t") for hour in hours}
        checks = {hour: outcome.check_volume(target, hour) for hour in hours}
        # the thin hour: its lines against the week before's, by the ledger
        lines = dict(con.execute("SELECT interval_start, sum(lines) FROM ops.loaded_file GROUP BY 1").fetchall())
        recon = reconcile_interval(con, str(landing), unreadable)

    assert checks[WEEK_AGO].problem is None  # no baseline a week earlier: nothing to compare
    thin = checks[TODAY]
    assert (thin.lines, thin.baseline_lines) == (lines[TODAY], lines[WEEK_AGO]) and thin.lines < lines[WEEK_AGO] / 2
    assert (
        thin.problem.startswith("arrival hour 2026-11-27T06:00: ")
        and "(a week earlier); flagged below 50%" in thin.problem
    )
    assert thin.as_dict()["ratio"] == round(lines[TODAY] / lines[WEEK_AGO], 3)
    assert checks[same].problem is None and checks[same].lines == lines[same]
    empty = checks[TODAY + timedelta(hours=2)]
    assert empty.problem == "arrival hour 2026-11-27T08:00: no landing files"
    assert empty.as_dict()["files"] == 0
    cut = checks[unreadable]
    assert cut.problem == "arrival hour 2026-11-27T09:00: 1 landing file(s) but no line loaded (1 quarantined whole)"

    # The load's table and summary: counts per kind and reason, the quarantined file named.
    summary = outcome.load_summary(results[WEEK_AGO])
    assert summary["loaded_by_kind"] == dict(sorted(results[WEEK_AGO].loaded_by_kind.items()))
    assert sum(summary["loaded_by_kind"].values()) == summary["loaded"] > 0
    assert summary["files"] == {"landed": 2, "loaded": 2, "already_loaded": 0, "quarantined": 0}
    assert json.loads(json.dumps(summary)) == summary  # an XCom: plain JSON
    table = outcome.load_table(results[WEEK_AGO])
    assert re.search(rf"^ +events loaded +{summary['loaded']:,}$", table, re.MULTILINE), table
    assert re.search(rf"^ +{re.escape(next(iter(summary['quarantined_by_reason'])))} +\d+$", table, re.MULTILINE)
    assert len(table.splitlines()) < 25 and max(len(line) for line in table.splitlines()) < 100
    cut_summary = outcome.load_summary(results[unreadable])
    assert cut_summary["quarantined_files"] == ["cut.json.gz: truncated"]
    assert "file quarantined: cut.json.gz" in outcome.load_table(results[unreadable])
    assert outcome.reconcile_summary(recon)["quarantined_files"] == ["cut.json.gz"]
    assert "reconcile 2026-11-27T09:00: balanced" in outcome.reconcile_table(recon)
