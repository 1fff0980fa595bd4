"""What event_pipeline's tasks log and return, and check_volume, on a real DuckDB warehouse loaded by the real
loader (no Airflow; tests/dags/test_pipeline_outcomes.py runs the tasks through dag.test()).

GIVEN arrival hours loaded a week apart: 06:00 with many sessions on 11-20 and few on 11-27; 07:00 the same on
both days; 08:00 landing nothing on 11-27; 09:00 landing only a truncated file,
THEN check_volume flags 06:00 (below half of a week earlier), 08:00 (no landing files) and 09:00 (no line
loaded), passes 07:00 and an hour with no week-earlier baseline, and the load's table and summary carry the
counts per kind and reason and the quarantined file.

And the deliver task's table and summary over its runs' outcomes (the deliveries themselves are tested against the
real receivers in tests/deliver).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta

import pytest

from eventpipe import warehouse
from eventpipe.deliver.config import parse_destinations
from eventpipe.deliver.run import DeliveryFailed, DeliveryRun, DestinationOutcome
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


DESTINATIONS = parse_destinations(
    {
        "destinations": {
            "files": {"type": "s3", "organizations": ["*"], "connection_id": "c", "bucket": "files-bucket"},
            "splunk": {"type": "splunk_hec", "organizations": ["*"], "connection_id": "h"},
            "ga4": {"type": "ga4", "organizations": ["*"], "connection_id": "g", "measurement_id": "G-TEST0001"},
        }
    }
)


def test_the_deliveries_table_and_summary_add_up_runs_and_say_each_destinations_state(caplog):
    """Two runs of the deliver task (a retry): per destination the events per kind, parts sent / skipped / resolved,
    dead letters with the too-old ones among them, possible duplicates, units left; a claim held by another run says
    so; a failure is FAILED with its error, logged at WARNING, and raised after the table."""
    files, splunk, ga4 = DESTINATIONS
    first = DeliveryRun(
        4,
        [
            DestinationOutcome(files, units=3, parts_sent=4, delivered={"Session": 90, "Audit": 10}),
            DestinationOutcome(splunk, parts_sent=1, error="HecAuthError: 403 Splunk ****"),
            DestinationOutcome(ga4, units=2, parts_sent=6, delivered={"analytics": 7}, dead_lettered=5, too_old=4,
                               possible_duplicates=2),
        ],
    )  # fmt: skip
    retry = DeliveryRun(
        5,
        [
            DestinationOutcome(files, units=1, parts_sent=1, parts_skipped=4, units_left=2, delivered={"Session": 5}),
            DestinationOutcome(splunk, parts_resolved=1, held_by="splunk is being delivered by w2:1:ab"),
            DestinationOutcome(ga4),
        ],
    )
    summary = outcome.delivery_summary([first, retry])
    assert (summary["through_commit"], summary["failed"]) == (5, 1)
    assert json.loads(json.dumps(summary)) == summary  # an XCom: plain JSON
    entries = summary["destinations"]
    assert entries["files"] | {"errors": None} == {
        "type": "s3", "delivered": {"Session": 95, "Audit": 10}, "parts_sent": 5, "parts_already_delivered": 4,
        "parts_resolved": 0, "dead_lettered": 0, "too_old": 0, "possible_duplicates": 0, "units": 4, "units_left": 2,
        "errors": None, "held_by": None,
    }  # fmt: skip
    assert (entries["ga4"]["dead_lettered"], entries["ga4"]["too_old"], entries["ga4"]["possible_duplicates"]) == (
        5, 4, 2
    )  # fmt: skip
    assert entries["splunk"]["errors"] == ["HecAuthError: 403 Splunk ****"]
    assert entries["splunk"]["held_by"] == "splunk is being delivered by w2:1:ab"

    table = outcome.delivery_table([first, retry])
    lines = table.splitlines()
    assert lines[0] == "deliveries through commit 5"
    assert lines[1].split() == [
        "destination", "kind", "events", "sent", "skip", "dead", "old", "dup?", "left", "status"
    ]  # fmt: skip
    assert lines[2].split() == ["files", "Audit", "10", "5", "4", "0", "0", "0", "2", "ok"]
    assert lines[3].split() == ["Session", "95"]  # a destination's other kinds on lines of their own
    assert lines[4].split()[:9] == ["splunk", "-", "0", "1", "1", "0", "0", "0", "0"]
    assert lines[4].endswith("FAILED: HecAuthError: 403 Splunk ****")  # the error wins over the held claim
    assert lines[5].split() == ["ga4", "analytics", "7", "6", "0", "5", "4", "2", "0", "ok"]

    log = logging.getLogger("test.deliveries")
    with caplog.at_level(logging.INFO, logger="test.deliveries"), pytest.raises(DeliveryFailed) as failed:
        outcome.finish_deliveries([first, retry], log)
    assert "1 of 3 destinations failed (through commit 4): splunk: HecAuthError" in str(failed.value)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.WARNING, table)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="test.deliveries"):
        assert outcome.finish_deliveries([retry], log) == outcome.delivery_summary([retry])
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "skipped: splunk is being delivered by w2:1:ab" in caplog.records[0].getMessage()
    assert outcome.delivery_table([]) == "deliveries through commit 0: no destination enabled"
