"""Hourly run benchmark: an ``event_pipeline`` run through Airflow against the sum of its bare parts.

    uv run python bench/hourly.py [--hours 5] [--sessions-per-hour 20]

Two fresh ``EVENTPIPE_HOME`` folders (under bench/out/hourly/) get the same generated landing hours
(the demo's shape: 3 organizations, ``--sessions-per-hour`` sessions each hour), then, each in its own
child process:

1. **airflow**: ``event_pipeline`` for every hour, as ``eventpipe run --hourly`` / ``eventpipe demo --hourly`` run it
   (``runner.run_intervals``: one ``dag.test()`` per hour; load, the Cosmos watcher producer and one
   sensor task per model, reconcile, deliver), each hour timed.
2. **parts**: the same hours as plain Python, in order: ``load_interval``, one bare ``dbt build
   --exclude tag:ci_only`` (the hourly selection, a fresh ``dbt`` process, its target dir kept between
   hours as anyone running it by hand would), ``reconcile_interval`` and ``deliver_task`` (what the
   ``deliver`` task calls: every load commit not delivered yet, to the same local receivers), each timed.

The first hour of each pays the one-off costs (imports, the Airflow metadata DB and DAG, dbt's first
full parse) and is printed apart; the comparison is the median of the following hours. Target: an
hour through Airflow at most 1.5x the sum of its parts. The machine's load average is printed with
the figures: on a shared machine, compare the ratio, measured within one run, not the seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "out" / "hourly"
START = datetime(2026, 11, 26)
MARK = "BENCH-RESULT "
TARGET_RATIO = 1.5


def airflow_phase(start: datetime, hours: int) -> dict:
    from eventpipe.local import runner

    marks = [time.perf_counter()]
    states = []

    def on_interval(_interval: datetime, state: str) -> None:
        marks.append(time.perf_counter())
        states.append(state)

    runner.run_intervals(start, start + timedelta(hours=hours), on_interval=on_interval)
    return {"hours": [after - before for before, after in itertools.pairwise(marks)], "states": states}


def parts_phase(start: datetime, hours: int) -> dict:
    from eventpipe import settings
    from eventpipe.orchestrate import airflow_env

    airflow_env.apply_airflow_environ()  # the deliveries read their Connections from this environment
    from eventpipe.deliver.run import deliver_task, raise_if_failed
    from eventpipe.devtools.receivers.local import local_receivers
    from eventpipe.ingest.load import load_interval
    from eventpipe.ingest.reconcile import assert_reconciled, reconcile_interval
    from eventpipe.warehouse import open_warehouse

    project = str(settings.dbt_project_dir())
    dbt_build = [sys.executable, "-m", "dbt.cli.main", "build", "--exclude", "tag:ci_only", "--quiet"]
    dbt_build += ["--project-dir", project, "--profiles-dir", project]
    dbt_build += ["--target-path", str(settings.eventpipe_home() / "dbt_target")]
    per_hour = []
    with local_receivers():
        for index in range(hours):
            interval = start + timedelta(hours=index)
            run_id = f"bench__{interval:%Y%m%dT%H}"
            times = {}
            began = time.perf_counter()
            with open_warehouse() as target:
                load_interval(target, settings.landing_url(), interval, run_id=run_id, dag_id="bench")
            times["load"] = time.perf_counter() - began
            began = time.perf_counter()
            subprocess.run(dbt_build, check=True, env=airflow_env.airflow_environ())
            times["dbt build"] = time.perf_counter() - began
            began = time.perf_counter()
            with open_warehouse() as target:
                assert_reconciled(reconcile_interval(target, settings.landing_url(), interval))
            times["reconcile"] = time.perf_counter() - began
            began = time.perf_counter()
            raise_if_failed(deliver_task(run_id=run_id))
            times["deliver"] = time.perf_counter() - began
            per_hour.append(times)
    return {"hours": per_hour}


def child(phase: str, home: Path, hours: int) -> dict:
    env = dict(os.environ, EVENTPIPE_HOME=str(home))
    env.pop("EVENTPIPE_LANDING", None)
    code = (
        f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import hourly; "
        f"print({MARK!r} + json.dumps(hourly.{phase}_phase(hourly.START, {hours})))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        sys.exit(f"{phase} phase failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return json.loads(lines[-1][len(MARK) :])


def generate_into(home: Path, hours: int, sessions_per_hour: int) -> int:
    from eventpipe.devtools.generate.landing import generate

    truth = generate(
        landing=str(home / "landing"), start=START, hours=hours, orgs=3, sessions_per_hour=sessions_per_hour, seed=7
    )
    return truth.lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=5, help="hours to run (the first is warm-up)")
    parser.add_argument("--sessions-per-hour", type=int, default=20)
    args = parser.parse_args()
    if args.hours < 2:
        parser.error("--hours must be at least 2 (the first hour is warm-up)")

    homes = {phase: OUT / phase for phase in ("airflow", "parts")}
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
        lines = generate_into(home, args.hours, args.sessions_per_hour)
    print(f"{args.hours} hours, {lines:,} landing lines, in {homes['airflow']} and {homes['parts']}", flush=True)

    load_before = os.getloadavg()[0]
    airflow = child("airflow", homes["airflow"], args.hours)
    parts = child("parts", homes["parts"], args.hours)
    load_after = os.getloadavg()[0]
    if any(state != "success" for state in airflow["states"]):
        sys.exit(f"an Airflow run did not succeed: {airflow['states']}")

    names = list(parts["hours"][0])
    part_medians = {name: statistics.median(hour[name] for hour in parts["hours"][1:]) for name in names}
    parts_sum = statistics.median(sum(hour.values()) for hour in parts["hours"][1:])
    through_airflow = statistics.median(airflow["hours"][1:])
    ratio = through_airflow / parts_sum
    print(f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores shared: compare the ratio)")
    first_parts = sum(parts["hours"][0].values())
    print(f"first hour (one-off costs): airflow {airflow['hours'][0]:.1f}s, parts {first_parts:.1f}s")
    print(f"median of hours 2..{args.hours}:")
    for name, seconds in part_medians.items():
        print(f"  part {name:<14}{seconds:>8.2f}s")
    print(f"  {'sum of parts':<19}{parts_sum:>8.2f}s")
    print(f"  {'through Airflow':<19}{through_airflow:>8.2f}s   per hour: {[round(s, 1) for s in airflow['hours']]}")
    verdict = "holds" if ratio <= TARGET_RATIO else "MISSED"
    print(f"ratio airflow / parts: {ratio:.2f}x   (target <= {TARGET_RATIO}x: {verdict})")


if __name__ == "__main__":
    main()
