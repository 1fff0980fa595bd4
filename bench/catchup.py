"""Catch-up benchmark: a month of landing, from an empty warehouse, through Airflow to raw, marts and all four
destinations, against the sum of its bare parts.

    uv run python bench/catchup.py [--days 30] [--sessions-per-hour 19]

One generated landing (3 organizations, ``--sessions-per-hour`` sessions each an hour, the last ``--days`` whole
days up to the current hour: GA4 takes the last 72 hours, older analytics events are dead-lettered
``too_old_for_destination``) is copied into two fresh ``EVENTPIPE_HOME`` folders (under bench/out/catchup/); then,
each in its own child process:

1. **airflow**: ``eventpipe run`` of the range (``eventpipe.local.catchup``: ``load_events`` runs while
   the ledger lacks files, ``deliver_events`` runs while a destination lacks a commit, one ``transform`` with the
   Cosmos group, ``hourly_checks`` over the range), every DAG run real and in process, the local receivers up;
2. **parts**: the same work as plain Python: ``load_pending`` until nothing is left, ``deliver_task`` until every
   destination has every commit, one bare ``dbt build --exclude tag:ci_only``, the hours reconciled and checked.

Target: through Airflow at most 10 minutes for at least 1M events on 2 cores. The machine's load average is printed
with the figures: on a shared machine, the ratio within one run says more than the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "out" / "catchup"
MARK = "BENCH-RESULT "
TARGET_SECONDS = 600
TARGET_EVENTS = 1_000_000


def airflow_phase(start: str, end: str) -> dict:
    from eventpipe.local import catchup

    runs = []
    began = time.perf_counter()

    def on_run(outcome) -> None:
        runs.append([outcome.dag_id, outcome.state, round(time.perf_counter() - began, 1)])

    catchup.catch_up(datetime.fromisoformat(start), datetime.fromisoformat(end), on_run=on_run)
    return {"seconds": time.perf_counter() - began, "runs": runs}


def parts_phase(start: str, end: str) -> dict:
    from eventpipe import settings
    from eventpipe.orchestrate import airflow_env

    airflow_env.apply_airflow_environ()  # the deliveries read their Connections from this environment
    from eventpipe.deliver.run import deliver_task, raise_if_failed
    from eventpipe.devtools.receivers.local import local_receivers
    from eventpipe.ingest import pending
    from eventpipe.local import catchup
    from eventpipe.orchestrate import continuous
    from eventpipe.warehouse import open_warehouse

    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    project = str(settings.dbt_project_dir())
    dbt_build = [sys.executable, "-m", "dbt.cli.main", "build", "--exclude", "tag:ci_only", "--quiet"]
    dbt_build += ["--project-dir", project, "--profiles-dir", project]
    dbt_build += ["--target-path", str(settings.eventpipe_home() / "dbt_target")]
    times: dict[str, float] = {}
    counts: dict[str, int] = {"load runs": 0, "deliver runs": 0}
    with local_receivers():
        began = time.perf_counter()
        while True:
            with open_warehouse() as target:
                pending.load_pending(target, settings.landing_url(), first, last, run_id="bench")
            counts["load runs"] += 1
            if catchup.files_waiting(first, last) == 0:
                break
        times["load"] = time.perf_counter() - began
        began = time.perf_counter()
        while True:
            raise_if_failed(deliver_task(run_id=f"bench-{counts['deliver runs']}"))
            counts["deliver runs"] += 1
            if catchup.deliveries_waiting() == 0:
                break
        times["deliver"] = time.perf_counter() - began
    began = time.perf_counter()
    subprocess.run(dbt_build, check=True, env=airflow_env.airflow_environ())
    times["dbt build"] = time.perf_counter() - began
    began = time.perf_counter()
    hours = pending.arrival_hours(first, last)
    continuous.reconcile_hours(hours)
    continuous.check_volumes(hours)
    times["reconcile + volume"] = time.perf_counter() - began
    return {"times": times, "counts": counts}


def child(phase: str, home: Path, start: datetime, end: datetime) -> dict:
    env = dict(os.environ, EVENTPIPE_HOME=str(home))
    env.pop("EVENTPIPE_LANDING", None)
    code = (
        f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import catchup; "
        f"print({MARK!r} + json.dumps(catchup.{phase}_phase({start.isoformat()!r}, {end.isoformat()!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        sys.exit(f"{phase} phase failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return json.loads(lines[-1][len(MARK) :])


def raw_events(home: Path) -> int:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = ("session_event", "audit_event", "platform_event")
        return sum(con.execute(f"select count(*) from raw.{table}").fetchone()[0] for table in tables)


def main() -> None:
    from eventpipe.devtools.generate.landing import generate
    from eventpipe.utc import hour_floor, utc_now

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sessions-per-hour", type=int, default=19)
    args = parser.parse_args()
    end = hour_floor(utc_now())
    start = end - timedelta(days=args.days)

    homes = {phase: OUT / phase for phase in ("airflow", "parts")}
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
    began = time.perf_counter()
    truth = generate(landing=str(homes["airflow"] / "landing"), start=start, hours=args.days * 24, orgs=3,
                     sessions_per_hour=args.sessions_per_hour, seed=7)  # fmt: skip
    shutil.copytree(homes["airflow"] / "landing", homes["parts"] / "landing")
    print(f"{args.days} days ({start:%Y-%m-%dT%H} to {end:%Y-%m-%dT%H}), {truth.files:,} files, {truth.lines:,} lines,"
          f" generated in {time.perf_counter() - began:.0f} s", flush=True)  # fmt: skip

    load_before = os.getloadavg()[0]
    airflow = child("airflow", homes["airflow"], start, end)
    parts = child("parts", homes["parts"], start, end)
    load_after = os.getloadavg()[0]
    failed = [run for run in airflow["runs"] if run[1] != "success"]
    events = raw_events(homes["airflow"])
    assert events == raw_events(homes["parts"]), "the two phases loaded different events"

    print(f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores shared: compare the ratio)")
    print("through Airflow, runs (dag, state, seconds since start):")
    for run in airflow["runs"]:
        print(f"  {run[0]:<15} {run[1]:<8} {run[2]:>7.1f} s")
    parts_sum = sum(parts["times"].values())
    for name, seconds in parts["times"].items():
        print(f"  part {name:<20}{seconds:>8.1f} s")
    print(f"  {'sum of parts':<25}{parts_sum:>8.1f} s   ({parts['counts']})")
    seconds = airflow["seconds"]
    verdict = "holds" if seconds <= TARGET_SECONDS and events >= TARGET_EVENTS and not failed else "MISSED"
    print(f"  {'through Airflow':<25}{seconds:>8.1f} s   ratio to the parts {seconds / parts_sum:.2f}x")
    print(f"events in raw: {events:,} (target >= {TARGET_EVENTS:,}); catch-up {seconds:.0f} s "
          f"(target <= {TARGET_SECONDS} s): {verdict}" + (f"; failed runs: {failed}" if failed else ""))  # fmt: skip


if __name__ == "__main__":
    main()
