"""redeliver, run for real by Airflow (``dag.test()``) over a delivered warehouse, with the local receivers up.

GIVEN two arrival hours of 2 organizations delivered once to the example destinations,
WHEN redeliver runs with only a range (the form's other defaults), THEN it is a dry run: check_params and plan
succeed, resend is skipped, plan's XCom counts the events and duplicates, and the receivers, the S3 directory and
the ledger are unchanged;
WHEN it names a destination not in the destinations file, THEN check_params fails on its first try (no retry, in
seconds), naming the destinations that are, and nothing else runs;
WHEN it runs with dry_run unticked for one destination and organization, THEN that receiver receives nothing (it
holds the range already), and with include_delivered ticked too it holds a second copy of exactly that
organization's events and no other destination is touched.

Airflow runs in a subprocess with its own home (its configuration is fixed when it is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import duckdb

from eventpipe import warehouse
from eventpipe.deliver.run import deliver_pending
from eventpipe.devtools.receivers.local import local_receivers
from eventpipe.orchestrate import airflow_env
from tests.deliver.conftest import END, START, loaded_ids

RUNS = r"""
import hashlib, json, os, sys
from datetime import UTC, datetime

import duckdb
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from eventpipe.orchestrate import airflow_env

airflow_env.ensure_metadata_db()
bag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "redeliver.py"))
assert not bag.import_errors, bag.import_errors
dag = bag.dags["redeliver"]
home = os.environ["EVENTPIPE_HOME"]


def snapshot():
    files = {}
    for root in ("received", "s3"):
        for folder, _, names in os.walk(os.path.join(home, root)):
            for name in names:
                path = os.path.join(folder, name)
                files[os.path.relpath(path, home)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    with duckdb.connect(os.path.join(home, "warehouse.duckdb"), read_only=True) as con:
        ledger = con.execute(
            "SELECT destination, organization_id, sum(attempts) FROM ops.delivery_part GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    return {"files": files, "ledger": [list(row) for row in ledger]}


org, start, end = sys.argv[2:5]
every = {"destination": "*", "organization": "*", "start": start, "end": end, "dry_run": True,
         "include_delivered": False}
# dag.test() runs reuse one DAG object, whose params keep the previous run's conf: the first passes only the range
runs = (
    ("dry_run", {"start": every["start"], "end": every["end"]}),
    ("bad_destination", every | {"destination": "local_splunkk"}),
    ("lacking", every | {"destination": "local_splunk", "organization": org, "dry_run": False}),
    ("resend", every | {"destination": "local_splunk", "organization": org, "dry_run": False,
                        "include_delivered": True}),
)
out = {"before": snapshot()}
for day, (name, conf) in enumerate(runs, start=1):
    run = dag.test(logical_date=datetime(2026, 12, day, tzinfo=UTC), run_conf=conf)
    with create_session() as session:
        instances = run.get_task_instances(session=session)
        tasks = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in instances}
        tries = {ti.task_id: ti.try_number for ti in instances}
        seconds = {
            ti.task_id: (ti.end_date - ti.start_date).total_seconds()
            for ti in instances
            if ti.start_date and ti.end_date
        }
        xcoms = {
            x.task_id: XComModel.deserialize_value(x)
            for x in session.query(XComModel).filter_by(dag_id="redeliver", run_id=run.run_id, key="return_value")
        }
    state = str(getattr(run.state, "value", run.state))
    out[name] = {"state": state, "tasks": tasks, "tries": tries, "seconds": seconds, "xcom": xcoms, "after": snapshot()}
with open(sys.argv[1], "w") as sink:
    json.dump(out, sink, default=str)
"""


def _splunk_ids(home) -> Counter:
    return Counter(
        json.loads(line)["fields"]["event_id"]
        for path in sorted((home / "received" / "splunk").glob("*.ndjson"))
        for line in path.read_text().splitlines()
        if line
    )


def test_redeliver_is_a_dry_run_by_default_refuses_a_bad_destination_at_once_and_resends_when_asked(
    loaded_warehouse, eventpipe_home, tmp_path
):
    path = eventpipe_home / "warehouse.duckdb"
    path.write_bytes(loaded_warehouse.read_bytes())
    with local_receivers():
        with warehouse.connect(path) as con:
            assert not deliver_pending(warehouse.as_warehouse(con), run_id="first").failed
            found = con.execute("SELECT DISTINCT organization_id FROM raw.session_event").fetchall()
            orgs = sorted(row[0] for row in found)
            org_sessions = sorted(loaded_ids(con, "session_event", f"organization_id = '{orgs[0]}'"))
            all_sessions = sorted(loaded_ids(con, "session_event"))
            con.execute("checkpoint")
        first_splunk = _splunk_ids(eventpipe_home)
        assert sorted(first_splunk) == all_sessions and set(first_splunk.values()) == {1}
        env = airflow_env.airflow_environ({**os.environ})
        result_file = tmp_path / "runs.json"
        span = [f"{START:%Y-%m-%dT%H:%M:%S}+00:00", f"{END:%Y-%m-%dT%H:%M:%S}+00:00"]  # the form's date-time
        command = [sys.executable, "-c", RUNS, str(result_file), orgs[0], *span]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        logs = result.stdout + result.stderr
        assert result.returncode == 0, logs[-6000:]
    runs = json.loads(result_file.read_text())

    # Only a range: a dry run. The plan finds every App Event held by HEC already (nothing to send, no duplicate);
    # nothing changed.
    dry = runs["dry_run"]
    assert dry["state"] == "success", dry
    assert dry["tasks"] == {"check_params": "success", "plan": "success", "resend": "skipped"}, dry
    assert dry["xcom"]["check_params"]["dry_run"] is True
    assert dry["xcom"]["check_params"]["include_delivered"] is False
    planned = dry["xcom"]["plan"]
    assert planned["intervals"] == 2 and planned["dry_run"] is True and planned["include_delivered"] is False
    splunk_lines = [line for line in planned["would_resend"] if line.startswith("local_splunk ")]
    assert sum(int(line.split(" of ")[1].split(" ")[0]) for line in splunk_lines) == len(all_sessions)
    assert {line.split(": ")[1].split(" ")[0] for line in splunk_lines} == {"0"}  # 0 of N events to send
    assert (planned["events"], planned["duplicates"]) == (0, 0)
    assert planned["already_delivered"] >= len(all_sessions)
    assert dry["after"] == runs["before"]  # receivers, S3 objects and ledger attempts: untouched
    assert "DRY RUN: nothing sent." in logs and "a SECOND COPY of every event already delivered" in logs

    # A mistyped destination: refused on the first try, in seconds, naming the destinations that exist.
    bad = runs["bad_destination"]
    assert bad["state"] == "failed", bad
    assert bad["tasks"] == {"check_params": "failed", "plan": "upstream_failed", "resend": "upstream_failed"}
    assert bad["tries"]["check_params"] == 1
    assert bad["seconds"]["check_params"] < 10, bad["seconds"]
    print(f"bad destination refused by check_params in {bad['seconds']['check_params']:.2f}s, try 1")
    assert (
        "destination 'local_splunkk' is not an enabled destination of" in logs
        and "one of local_s3, local_splunk, local_heap, local_ga4, or * for all" in logs
    )
    assert bad["after"] == runs["before"]

    # dry_run unticked, one destination and organization: HEC holds them, so nothing is sent and nothing changes.
    lacking = runs["lacking"]
    assert lacking["state"] == "success", lacking
    assert lacking["tasks"] == {"check_params": "success", "plan": "success", "resend": "success"}, lacking
    summary = lacking["xcom"]["resend"]["destinations"]
    assert list(summary) == ["local_splunk"] and summary["local_splunk"]["delivered"] == {}
    assert summary["local_splunk"]["parts_sent"] == 0 and summary["local_splunk"]["parts_already_delivered"] > 0
    assert lacking["after"]["ledger"] == runs["before"]["ledger"]
    assert {k: v for k, v in lacking["after"]["files"].items() if k.startswith("received/")} == {
        k: v for k, v in runs["before"]["files"].items() if k.startswith("received/")
    }

    # ... and with include_delivered ticked: exactly that organization's events again at HEC.
    resend = runs["resend"]
    assert resend["state"] == "success", resend
    assert resend["tasks"] == {"check_params": "success", "plan": "success", "resend": "success"}, resend
    summary = resend["xcom"]["resend"]["destinations"]
    assert list(summary) == ["local_splunk"] and summary["local_splunk"]["delivered"] == {"Session": len(org_sessions)}
    again = _splunk_ids(eventpipe_home)
    assert again - first_splunk == Counter(org_sessions)
    changed = {k for k, v in resend["after"]["files"].items() if runs["before"]["files"].get(k) != v}
    assert changed and all(k.startswith("received/splunk/") for k in changed), changed
    before = {(d, o): n for d, o, n in runs["before"]["ledger"]}
    after = {(d, o): n for d, o, n in resend["after"]["ledger"]}
    assert {key for key in after if after[key] != before[key]} == {("local_splunk", orgs[0])}
    assert summary["local_splunk"]["possible_duplicates"] == len(org_sessions)  # HEC keeps the second copy
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ops.delivery_part WHERE status != 'delivered'").fetchone()[0] == 0
