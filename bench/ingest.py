"""Ingest benchmark: eventpipe's extract + validate + load against DuckDB's own read_json load.

    uv run python bench/ingest.py [--events 1000000] [--scale 4]

Generates (once, cached under bench/out/) gzip NDJSON landing files holding ~N events in ONE
arrival hour (the worst case for memory: one interval, one transaction), then, each in a fresh
child process so peak RSS is its own:

  1. eventpipe  load_interval(): read lines, validate, dedup against history, load raw tables;
  2. duckdb     CREATE TABLE AS SELECT * FROM read_json(<same files>), the embedded engine's bare load;
  3. eventpipe  again at N x scale events, for peak memory growth.

The generated data is clean of malformed lines for this comparison (read_json stops at invalid
UTF-8); duplicates and late events are in. Prints lines/s, wall and CPU seconds (CPU time is steadier
on a shared machine), the ratios and peak RSS, each beside its target (issue 11):

  eventpipe time per line / read_json time per line at N events   at most 1.3x
  lines/s at N x scale / lines/s at N                             at least 0.9x
  eventpipe peak RSS at N x scale events                          at most 1.5 GB (1,536 MB)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).parent / "out"
HOUR = datetime(2026, 11, 27, 10)
EVENTS_PER_SESSION_HOUR = 3 * 15 * 1.5  # orgs x events per session x (session + audit + platform)


def dataset(events: int) -> Path:
    landing = OUT / f"landing-{events}"
    marker = landing / "truth.json"
    if not marker.exists():
        from eventpipe.devtools.generate.landing import generate

        sessions = max(1, round(events / EVENTS_PER_SESSION_HOUR))
        started = time.perf_counter()
        truth = generate(
            landing=str(landing),
            start=HOUR,
            hours=1,
            orgs=3,
            sessions_per_hour=sessions,
            seed=1,
            malformed_fraction=0.0,
            files_per_hour=24,
            truth_path=str(marker),
        )
        print(f"generated {truth.lines:,} lines in {time.perf_counter() - started:.1f}s -> {landing}", flush=True)
    return landing


def child(mode: str, landing: Path, workdir: Path) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON report."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import ingest; ingest.{mode}()"
    output = subprocess.run(
        [sys.executable, "-c", code, str(landing), str(workdir)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries that across fork/exec, so a
    child would report the parent's peak (the generator's) instead of its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_eventpipe() -> None:
    from eventpipe import warehouse
    from eventpipe.ingest import load

    landing, workdir = Path(sys.argv[1]), Path(sys.argv[2])
    with warehouse.connect(workdir / "eventpipe.duckdb") as con:
        started, cpu = time.perf_counter(), time.process_time()
        result = load.load_interval(con, str(landing), HOUR, run_id="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    report = {"lines": result.lines, "loaded": result.loaded, "seconds": seconds, "cpu": cpu, "rss_mb": _peak_rss_mb()}
    print(json.dumps(report))


def measure_read_json() -> None:
    import duckdb

    from eventpipe import settings

    landing, workdir = Path(sys.argv[1]), Path(sys.argv[2])
    con = duckdb.connect(str(workdir / "read_json.duckdb"))
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit()}'")
    files = sorted(str(p) for p in landing.rglob("*.json.gz"))
    started, cpu = time.perf_counter(), time.process_time()
    con.execute("CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited')", [files])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
    print(json.dumps({"lines": rows, "loaded": rows, "seconds": seconds, "cpu": cpu, "rss_mb": _peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()

    small, large = dataset(args.events), dataset(args.events * args.scale)
    runs = OUT / f"run-{int(time.time())}"
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    results = {}
    for name, mode, landing in [
        ("eventpipe", "measure_eventpipe", small),
        ("read_json", "measure_read_json", small),
        (f"eventpipe x{args.scale}", "measure_eventpipe", large),
    ]:
        workdir = runs / name.replace(" ", "_")
        workdir.mkdir(parents=True)
        results[name] = child(mode, landing, workdir)
        r = results[name]
        print(
            f"{name:<14} {r['lines']:>10,} lines  {r['seconds']:7.2f}s wall {r['cpu']:7.2f}s CPU"
            f"  {r['lines'] / r['seconds']:>10,.0f} lines/s  peak RSS {r['rss_mb']:7.0f} MB",
            flush=True,
        )
    ep, rj, big = results["eventpipe"], results["read_json"], results[f"eventpipe x{args.scale}"]
    ratio = (ep["seconds"] / ep["lines"]) / (rj["seconds"] / rj["lines"])
    cpu_ratio = (ep["cpu"] / ep["lines"]) / (rj["cpu"] / rj["lines"])
    throughput = (big["lines"] / big["seconds"]) / (ep["lines"] / ep["seconds"])
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"eventpipe / read_json, time per line:   {ratio:5.2f}x wall ({cpu_ratio:.2f}x CPU)  target at most 1.30x")
    print(f"lines/s at {args.scale}x events / at 1x:          {throughput:5.2f}x       target at least 0.90x")
    print(f"peak RSS at {args.scale}x events:              {big['rss_mb']:5.0f} MB      target at most 1536 MB")
    print(f"peak RSS at {args.scale}x events / at 1x:         {big['rss_mb'] / ep['rss_mb']:5.2f}x")


if __name__ == "__main__":
    main()
