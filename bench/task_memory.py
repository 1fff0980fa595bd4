"""Peak memory of every pipeline task on one arrival hour of about 4M lines: each at most 1 GB (issue 19).

    uv run python bench/task_memory.py [--lines 4000000] [--keep]

Generates (cached under bench/out/, by size and hour) one recent arrival hour of gzip NDJSON, 2% of its lines
malformed, then runs each task of the pipeline on one embedded warehouse, in pipeline order, each in a fresh child
process, so that the peak RSS printed (VmHWM) is the task's own:

  load_raw_events   eventpipe.ingest.load.load_interval (the groups: EVENTPIPE_LOAD_GROUP_BYTES)
  reconcile         eventpipe.ingest.reconcile.reconcile_interval (every line counted again from storage)
  deliver           eventpipe.deliver.run.deliver_pending to the local receivers this bench starts (S3 directory,
                    Splunk HEC with acknowledgement, Heap, GA4), every event of the hour
  replay            eventpipe.ingest.replay.replay_quarantine: every quarantined line read, validated again and
                    paged (they still fail: nothing is fixed), EVENTPIPE_REPLAY_PAGE_LINES / _BYTES
  dbt build         the dbt project through dbt's own runner, in process (as Cosmos' watcher producer runs it)

It prints, per task, its wall time and its peak RSS beside the target, with the settings that bound it
(EVENTPIPE_DUCKDB_MEMORY_LIMIT, EVENTPIPE_DELIVERY_CHUNK_EVENTS, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

OUT = Path(__file__).parent / "out"
TARGET_MB = 1024
EVENTS_PER_SESSION_HOUR = 3 * 15 * 1.5  # orgs x events per session x (session + audit + platform)
TASKS = ("load_raw_events", "reconcile", "deliver", "replay", "dbt build")


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry the parent's across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def dataset(lines: int, hour) -> Path:
    landing = OUT / f"memory-{lines}-{hour:%Y%m%dT%H}"
    marker = landing / "truth.json"
    if not marker.exists():
        from eventpipe.devtools.generate.landing import generate

        shutil.rmtree(landing, ignore_errors=True)
        sessions = max(1, round(lines / EVENTS_PER_SESSION_HOUR))
        started = time.perf_counter()
        truth = generate(
            landing=str(landing), start=hour, hours=1, orgs=3, sessions_per_hour=sessions, seed=7,
            late_fraction=0.0, malformed_fraction=0.02, files_per_hour=24, truth_path=str(marker),
        )  # fmt: skip
        print(f"generated {truth.lines:,} lines in {time.perf_counter() - started:.0f}s -> {landing}", flush=True)
    return landing


# -- the tasks, each run in its own child process ----------------------------------------------------------


def run_task(task: str, landing: str, hour: str) -> dict:
    from datetime import datetime

    from eventpipe import warehouse

    interval = datetime.fromisoformat(hour)
    detail: dict = {}
    if task == "dbt build":
        from dbt.cli.main import dbtRunner

        project = str(Path(__file__).resolve().parents[1] / "dbt_project")
        result = dbtRunner().invoke(
            ["build", "--project-dir", project, "--profiles-dir", project, "--exclude", "tag:ci_only", "--quiet"]
        )
        detail["success"] = bool(result.success)
        return detail
    with warehouse.connect() as con:
        target = warehouse.DuckDBWarehouse(con)
        if task == "load_raw_events":
            from eventpipe.ingest.load import load_interval

            result = load_interval(target, landing, interval, run_id="bench")
            detail = {"lines": result.lines, "loaded": result.loaded, "quarantined": result.quarantined}
        elif task == "reconcile":
            from eventpipe.ingest.reconcile import reconcile_interval

            checked = reconcile_interval(target, landing, interval)
            detail = {"balanced": checked.balanced, "lines": checked.lines_landed}
        elif task == "deliver":
            from airflow.models.connection import Connection

            from eventpipe.deliver.run import deliver_pending

            def connection(conn_id: str):
                return Connection.from_json(os.environ["AIRFLOW_CONN_" + conn_id.upper()], conn_id=conn_id)

            # Every unit of the hour, in as many runs as the per-run bound takes (EVENTPIPE_DELIVERY_MAX_EVENTS).
            runs = 0
            while True:
                run = deliver_pending(target, get_connection=connection, run_id=f"bench-{runs}")
                runs += 1
                for o in run.outcomes:
                    entry = detail.setdefault(o.destination.name, {"delivered": 0, "parts": 0, "errors": []})
                    entry["delivered"] += sum(o.delivered.values())
                    entry["parts"] += o.parts_sent
                    entry["errors"] += [o.error] if o.error else []
                if run.failed or not any(o.units_left for o in run.outcomes):
                    break
            detail["runs"] = runs
        elif task == "replay":
            from eventpipe.ingest.replay import replay_quarantine

            result = replay_quarantine(target, run_id="bench")
            detail = {"replayed": result.replayed, "still_quarantined": result.still_quarantined}
    return detail


def child_main() -> None:
    task, landing, hour = sys.argv[2:5]
    started = time.perf_counter()
    detail = run_task(task, landing, hour)
    print(json.dumps({"seconds": time.perf_counter() - started, "rss_mb": peak_rss_mb(), "detail": detail}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=4_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the run's warehouse and receivers' files")
    parser.add_argument("--tasks", default=",".join(TASKS), help="a comma-separated subset, in pipeline order")
    args = parser.parse_args()

    from eventpipe.devtools.receivers.local import local_receivers
    from eventpipe.utc import hour_floor, utc_now

    hour = hour_floor(utc_now()) - timedelta(hours=2)  # recent: GA4 takes events up to 72 hours old
    landing = dataset(args.lines, hour)
    home = OUT / f"memory-run-{int(time.time())}"
    home.mkdir(parents=True)
    env = dict(os.environ, EVENTPIPE_HOME=str(home))
    settings = {
        key: os.environ.get(key, default)
        for key, default in (
            ("EVENTPIPE_DUCKDB_MEMORY_LIMIT", "(default)"),
            ("EVENTPIPE_LOAD_GROUP_BYTES", "(default)"),
            ("EVENTPIPE_DELIVERY_CHUNK_EVENTS", "(default)"),
            ("EVENTPIPE_REPLAY_PAGE_LINES", "(default)"),
        )
    }
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; settings {settings}")
    results = {}
    with local_receivers(home) as receivers:
        env.update(receivers.environ)
        for task in [task for task in TASKS if task in args.tasks.split(",")]:
            output = subprocess.run(
                [sys.executable, __file__, "--child", task, str(landing), hour.isoformat()],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            results[task] = json.loads(output.strip().splitlines()[-1])
            r = results[task]
            verdict = "ok" if r["rss_mb"] <= TARGET_MB else "OVER"
            print(
                f"{task:<16} {r['seconds']:8.1f}s  peak RSS {r['rss_mb']:6.0f} MB  target at most {TARGET_MB} MB"
                f"  {verdict}  {json.dumps(r['detail'])}",
                flush=True,
            )
    worst = max(results.values(), key=lambda r: r["rss_mb"])["rss_mb"]
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"largest peak RSS of any task: {worst:.0f} MB (target at most {TARGET_MB} MB)")
    if not args.keep:
        shutil.rmtree(home)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main()
    else:
        main()
