"""The production topology on this machine (``make test-distributed``): a backfill through the REST API on
CeleryExecutor with two workers, on the Snowflake path, equal to a single-process run; clearing hours changes
nothing; a worker SIGKILLed in the middle of a load loses nothing and doubles nothing.

Needs PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379); not collected by plain ``make test``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from eventpipe.devtools import emulator
from eventpipe.devtools.generate.landing import generate
from eventpipe.devtools.receivers.local import local_receivers
from tests.distributed import topology as topo
from tests.distributed import warehouse_rows as rows

# Minutes on a shared 2-core machine (printed as it goes): far above the suite's default per-test timeout.
pytestmark = [pytest.mark.distributed, pytest.mark.timeout(3000)]

START = datetime(2026, 11, 27, 6)
BACKFILL_HOURS = 6
KILL_HOURS = 1
FILES_PER_HOUR = 6


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def reference_run(home, landing, start: datetime, end: datetime) -> subprocess.Popen:
    """``eventpipe run --hourly`` on the emulator: the single-process run of ``event_pipeline`` the distributed
    backfill must equal."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "SNOWFLAKE_"))}
    env.update(EVENTPIPE_HOME=str(home), EVENTPIPE_LANDING=str(landing))
    log = open(home / f"reference-{start:%H}.log", "ab")  # noqa: SIM115 - the child's for its lifetime
    command = [sys.executable, "-m", "eventpipe.cli", "run", "--hourly", "--start", iso(start), "--end", iso(end)]
    process = subprocess.Popen(
        [*command, "--target", "snowflake-emulator"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process


def finish(process: subprocess.Popen, what: str) -> None:
    assert process.wait(timeout=1200) == 0, f"{what} failed: see its log"


def backfill(stack: topo.Topology, first: datetime, hours: int) -> tuple[dict, list[dict]]:
    """POST /api/v2/backfills as a user would, wait until it completes; the backfill and its runs."""
    body = {
        "dag_id": "event_pipeline",
        "from_date": iso(first),
        "to_date": iso(first + timedelta(hours=hours - 1)),
        "max_active_runs": 3,
        "reprocess_behavior": "none",
    }
    created = stack.api("/backfills", body)
    done = stack.wait_for(
        lambda: (b := stack.api(f"/backfills/{created['id']}"))["completed_at"] and b, 1200, "the backfill", every=3
    )
    return done, backfill_runs(stack, first, hours)


def backfill_runs(stack: topo.Topology, first: datetime, hours: int) -> list[dict]:
    """The backfill's runs: one per arrival hour of the range (its data interval)."""
    wanted = {iso(first + timedelta(hours=h)) for h in range(hours)}
    runs = [run for run in all_runs(stack) if run["run_type"] == "backfill"]
    return [run for run in runs if normalized(run["data_interval_start"]) in wanted]


def normalized(timestamp: str) -> str:
    return iso(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).replace(tzinfo=None))


def all_runs(stack: topo.Topology) -> list[dict]:
    return stack.api("/dags/event_pipeline/dagRuns?limit=100")["dag_runs"]


def task_instances(stack: topo.Topology, run_id: str) -> list[dict]:
    return stack.api(f"/dags/event_pipeline/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]


def tasks_per_worker(stack: topo.Topology, runs: list[dict]) -> Counter:
    return Counter(
        ti["hostname"] for run in runs for ti in task_instances(stack, run["dag_run_id"]) if ti.get("hostname")
    )


def wait_runs_succeeded(stack: topo.Topology, run_ids: list[str], timeout: float) -> None:
    def settled():
        states = {run["dag_run_id"]: run["state"] for run in all_runs(stack) if run["dag_run_id"] in run_ids}
        return all(state in ("success", "failed") for state in states.values()) and states

    states = stack.wait_for(settled, timeout, f"runs {run_ids}", every=3)
    assert set(states.values()) == {"success"}, states


def assert_same(left: dict, right: dict, what: str) -> None:
    problems = rows.differences(left, right)
    assert not problems, f"{what}:\n" + "\n".join(problems)
    assert all(table_rows for _, table_rows in left.values()), "an empty table would prove nothing"


@pytest.fixture
def landing(tmp_path):
    path = tmp_path / "landing"
    generate(
        landing=str(path),
        start=START,
        hours=BACKFILL_HOURS + KILL_HOURS,
        orgs=2,
        sessions_per_hour=4,
        seed=31,
        late_fraction=0.08,
        duplicate_fraction=0.05,
        malformed_fraction=0.03,
        files_per_hour=FILES_PER_HOUR,
    )
    return path


def test_backfill_on_two_celery_workers_equals_a_single_process_run(tmp_path, landing, monkeypatch):
    ref_home, home, logs = tmp_path / "reference", tmp_path / "distributed", tmp_path / "logs"
    for path in (ref_home, home, logs):
        path.mkdir()
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))  # up.admin_password() reads the Airflow home from it
    # A worker SIGKILLed inside a load commit leaves its transaction open on the emulator, which rolls it back once it
    # has been idle this long and blocks another writer (Snowflake: five minutes): the retry then commits.
    monkeypatch.setenv("EVENTPIPE_EMULATOR_IDLE_ABORT_SECONDS", "20")
    reference = reference_run(ref_home, landing, START, START + timedelta(hours=BACKFILL_HOURS))
    stack = None
    try:
        with (
            emulator.running(directory=home / "snowflake", log_path=logs / "emulator.log") as endpoint,
            local_receivers(home) as receivers,
        ):
            database, redis_db, port = topo.create_database(), topo.free_redis_db(), emulator.free_port()
            extra = endpoint.environ() | receivers.environ
            extra |= {"EVENTPIPE_LANDING": str(landing), "EVENTPIPE_LOAD_GROUP_BYTES": "1"}
            env = topo.airflow_env_for(home, database, redis_db, port, extra)
            stack = topo.Topology(home, logs, env, port, database=database, redis_db=redis_db)
            topo.start_topology(stack)
            print(f"\n[{rows.stamp()}] topology up: Postgres {database}, Redis db {redis_db}, api-server :{port}")

            # 1. A backfill of six hours, several runs and tasks at once, on two workers.
            started = time.monotonic()
            _backfill, runs = backfill(stack, START, BACKFILL_HOURS)
            wall = time.monotonic() - started
            assert len(runs) == BACKFILL_HOURS, [run["data_interval_start"] for run in all_runs(stack)]
            assert {run["state"] for run in runs} == {"success"}, {run["dag_run_id"]: run["state"] for run in runs}
            per_worker = tasks_per_worker(stack, runs)
            print(f"[{rows.stamp()}] backfill of {BACKFILL_HOURS} hours: {wall:.0f}s wall; per worker", per_worker)
            assert set(topo.WORKERS) <= set(per_worker), f"tasks ran on {dict(per_worker)}, not on both workers"
            overlap = max_overlap(runs)
            print(f"[{rows.stamp()}] at most {overlap} runs were running at once")
            assert overlap > 1, "the runs ran one at a time"

            finish(reference, "the single-process reference run")
            after_backfill = rows.read_running(endpoint)
            assert_same(after_backfill, rows.read_home(ref_home), "backfill vs single-process run")
            assert rows.delivered(home) == rows.delivered(ref_home), "the destinations received different events"

            # 2. Clearing two of the hours re-runs them and changes nothing.
            cleared = [runs[1]["dag_run_id"], runs[4]["dag_run_id"]]
            for run_id in cleared:
                body = {"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True}
                stack.api("/dags/event_pipeline/clearTaskInstances", body)
            wait_runs_succeeded(stack, cleared, 900)
            assert_same(rows.read_running(endpoint), after_backfill, "after clearing two hours")
            print(f"[{rows.stamp()}] cleared {cleared}: nothing changed")

            # 3. SIGKILL the worker running a load, in the middle of it: retried on the other, nothing lost/doubled.
            kill_start = START + timedelta(hours=BACKFILL_HOURS)
            reference = reference_run(ref_home, landing, kill_start, kill_start + timedelta(hours=KILL_HOURS))
            killed = kill_mid_load(stack, endpoint, kill_start)
            finish(reference, "the single-process reference run of the last hours")
            assert_same(rows.read_running(endpoint), rows.read_home(ref_home), "after the SIGKILL vs single-process")
            assert rows.delivered(home) == rows.delivered(ref_home)
            print(f"[{rows.stamp()}] SIGKILL test: {killed}")
    finally:
        if stack is not None:
            stack.close()
        elif reference.poll() is None:
            reference.kill()
    assert not topo._pids_with_env("EVENTPIPE_TEST_RUN", stack.run_token), "a process outlived the test"


def max_overlap(runs: list[dict]) -> int:
    spans = [(run["start_date"], run["end_date"]) for run in runs]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def kill_mid_load(stack: topo.Topology, endpoint, first: datetime) -> dict:
    """Start a backfill, SIGKILL the worker of the first load once it has loaded part of its hour's files."""
    last = first + timedelta(hours=KILL_HOURS - 1)
    body = {"dag_id": "event_pipeline", "from_date": iso(first), "to_date": iso(last), "max_active_runs": 1}
    created = stack.api("/backfills", body)
    path = "/dags/event_pipeline/dagRuns/~/taskInstances?task_id=load_raw_events&state=running&limit=10"
    running = stack.wait_for(
        lambda: [ti for ti in stack.api(path)["task_instances"] if ti.get("hostname")], 600, "a running load", 0.2
    )[0]
    run = stack.api(f"/dags/event_pipeline/dagRuns/{running['dag_run_id']}")
    hour = datetime.fromisoformat(normalized(run["data_interval_start"]).removesuffix("Z"))
    conn = rows.connect(endpoint)
    try:
        count = "select count(*) from ops.loaded_file where interval_start = %(hour)s"

        def ledgered():
            return conn.cursor().execute(count, {"hour": hour}).fetchone()[0]

        stack.wait_for(ledgered, 120, "the load's first ledger rows", every=0.1)
        victim = running["hostname"]
        stack.kill(victim)
        killed_at, killed_wall, files_at_kill = time.monotonic(), datetime.now(UTC), ledgered()
    finally:
        conn.close()
    assert 0 < files_at_kill < FILES_PER_HOUR, f"not killed mid-load: {files_at_kill} of {FILES_PER_HOUR} files"
    tries_path = f"/dags/event_pipeline/dagRuns/{running['dag_run_id']}/taskInstances/load_raw_events/tries"

    def retried_successfully():
        tries = stack.api(tries_path)["task_instances"]
        return [t for t in tries if t["try_number"] > running["try_number"] and t["state"] == "success"]

    retry = stack.wait_for(retried_successfully, 600, "the load's retry", every=2)[0]
    retry_after = time.monotonic() - killed_at
    retry_started = datetime.fromisoformat(retry["start_date"].replace("Z", "+00:00"))
    stack.wait_for(lambda: stack.api(f"/backfills/{created['id']}")["completed_at"], 900, "the second backfill", 3)
    runs = backfill_runs(stack, first, KILL_HOURS)
    assert {run["state"] for run in runs} == {"success"} and len(runs) == KILL_HOURS, runs
    survivor = next(worker for worker in topo.WORKERS if worker != victim)
    assert retry["hostname"] == survivor, f"the retry ran on {retry['hostname']}"
    return {
        "killed": victim,
        "files ledgered at the kill": f"{files_at_kill} of {FILES_PER_HOUR}",
        "retry": f"try {retry['try_number']} on {retry['hostname']}",
        "seconds from kill to retry start": round((retry_started - killed_wall).total_seconds()),
        "seconds from kill to retry success": round(retry_after),
    }
