"""Ingest benchmark: eventpipe's extract + validate + load against the same work as bare DuckDB SQL.

    uv run python bench/ingest.py [--events 1000000] [--scale 4] [--repeat 3]

Generates (once, cached under bench/out/) gzip NDJSON landing files holding ~N events in ONE
arrival hour (the worst case for memory: one interval), then measures, each in a fresh child process
so peak RSS is its own:

  floor      the loader's own work as one DuckDB statement (bench/ingest_floor.sql): each line read as
             text, parsed once as JSON, the 43 envelope and kind fields extracted and typed, the payload
             kept, written to a persisted table; no validation, no quarantine, no dedup;
  eventpipe  load_interval(): read lines, validate, dedup against history, load the raw tables;
             the floor and eventpipe run back to back ``--repeat`` times, and the median ratio is taken;
  read_json  CREATE TABLE AS SELECT * FROM read_json(<same files>): the engine's own limit, once;
  eventpipe  at N x scale events, once, for throughput and peak memory growth (``--scale 0``: skipped).

All with the default settings (DuckDB's memory_limit: EVENTPIPE_DUCKDB_MEMORY_LIMIT). The generated data is
clean of malformed lines for this comparison (read_json stops at invalid UTF-8); duplicates and late
events are in. Prints lines/s, wall and CPU seconds (user + sys of the child: steadier on a shared
machine), the ratios and peak RSS, each beside its target (issue 23):

  eventpipe time per line / floor time per line at N events        at most 1.3x
  lines/s at N x scale / lines/s at N                              at least 0.9x
  eventpipe peak RSS at N and at N x scale                         at most 1 GB (1,024 MB)
  peak RSS at N x scale / at N                                     at most 1.1x (flat)
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


# Where a Snowflake load's time goes: the functions of eventpipe.warehouse.snowflake_engine, by cumulative time.
SNOWFLAKE_PHASES = {
    "stage_group": "validate and dedup within the group in a scratch DuckDB",
    "_export": "the scratch raw tables written as Parquet",
    "_load_tables": "PUT the Parquet files and COPY them into load tables",
    "_insert_new_rows": "insert the new rows per event-time window (the anti-join against history)",
    "_record_files": "ledger rows from what the tables hold",
    "_record_commit": "the commit's units and row",
}


def measure_snowflake() -> None:
    """The Snowflake path on the emulator (fakesnow through the real connector): the load, timed by phase."""
    import cProfile
    import pstats

    from snowflake import connector

    from eventpipe.devtools import emulator
    from eventpipe.ingest import load
    from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

    landing, workdir = Path(sys.argv[1]), Path(sys.argv[2])
    with emulator.running(directory=workdir / "sf", log_path=workdir / "emulator.log") as endpoint:
        conn = connector.connect(
            user="loader",
            password="emulator",
            account="fakesnow",
            host=endpoint.host,
            port=endpoint.port,
            protocol="http",
            database="ANALYTICS",
        )
        target = SnowflakeWarehouse(conn)
        profile = cProfile.Profile()
        started, cpu = time.perf_counter(), time.process_time()
        with profile:
            result = load.load_interval(target, str(landing), HOUR, run_id="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        target.close()
    phases = {
        name: round(stats[3], 2)
        for (_, _, name), stats in pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
        if name in SNOWFLAKE_PHASES
    }
    report = {"lines": result.lines, "loaded": result.loaded, "seconds": seconds, "cpu": cpu}
    print(json.dumps(report | {"rss_mb": _peak_rss_mb(), "phases": phases}))


def measure_floor() -> None:
    import duckdb

    from eventpipe import settings

    landing, workdir = Path(sys.argv[1]), Path(sys.argv[2])
    con = duckdb.connect(str(workdir / "floor.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit()}'")
    files = sorted(str(p) for p in landing.rglob("*.json.gz"))
    sql = (Path(__file__).parent / "ingest_floor.sql").read_text()
    started, cpu = time.perf_counter(), time.process_time()
    con.execute(sql, {"files": files, "delimiter": "\x01"})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows, typed = con.execute("SELECT count(*), count(event_time) FROM events").fetchone()
    assert rows == typed, "the floor must read every line and type every event time"
    print(json.dumps({"lines": rows, "loaded": rows, "seconds": seconds, "cpu": cpu, "rss_mb": _peak_rss_mb()}))


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


def report(name: str, r: dict) -> None:
    print(
        f"{name:<14} {r['lines']:>10,} lines  {r['seconds']:7.2f}s wall {r['cpu']:7.2f}s CPU"
        f"  {r['lines'] / r['seconds']:>10,.0f} lines/s  peak RSS {r['rss_mb']:7.0f} MB",
        flush=True,
    )


def per_line(r: dict, key: str) -> float:
    return r[key] / r["lines"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=4, help="0: no run at N x scale events")
    parser.add_argument("--repeat", type=int, default=3, help="floor and eventpipe back to back, this many times")
    parser.add_argument("--snowflake", action="store_true", help="only the Snowflake path on the emulator, by phase")
    args = parser.parse_args()
    if args.snowflake:
        return snowflake(args.events)

    small = dataset(args.events)
    large = dataset(args.events * args.scale) if args.scale else None
    runs = OUT / f"run-{int(time.time())}"
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")

    def run(name: str, mode: str, landing: Path) -> dict:
        workdir = runs / name.replace(" ", "_")
        workdir.mkdir(parents=True)
        result = child(mode, landing, workdir)
        report(name, result)
        return result

    pairs = []
    for attempt in range(1, args.repeat + 1):
        floor = run(f"floor #{attempt}", "measure_floor", small)
        eventpipe = run(f"eventpipe #{attempt}", "measure_eventpipe", small)
        pairs.append((floor, eventpipe))
    read_json = run("read_json", "measure_read_json", small)
    big = run(f"eventpipe x{args.scale}", "measure_eventpipe", large) if large else None
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    wall = median([per_line(ep, "seconds") / per_line(fl, "seconds") for fl, ep in pairs])
    cpu = median([per_line(ep, "cpu") / per_line(fl, "cpu") for fl, ep in pairs])
    ep = sorted((pair[1] for pair in pairs), key=lambda r: r["seconds"])[len(pairs) // 2]
    rj_wall = per_line(ep, "seconds") / per_line(read_json, "seconds")
    rj_cpu = per_line(ep, "cpu") / per_line(read_json, "cpu")
    rss = max(pair[1]["rss_mb"] for pair in pairs)
    show(
        f"eventpipe / floor, time per line (median of {len(pairs)})",
        f"{wall:.2f}x wall ({cpu:.2f}x CPU)",
        "at most 1.30x",
    )
    show("eventpipe / read_json, time per line", f"{rj_wall:.2f}x wall ({rj_cpu:.2f}x CPU)", "(the engine's limit)")
    show(f"eventpipe peak RSS at {ep['lines']:,} lines", f"{rss:.0f} MB", "at most 1024 MB")
    if big:
        throughput = (big["lines"] / big["seconds"]) / (ep["lines"] / ep["seconds"])
        cpu_throughput = (big["lines"] / big["cpu"]) / (ep["lines"] / ep["cpu"])
        show(
            f"lines/s at {args.scale}x events / at 1x",
            f"{throughput:.2f}x wall ({cpu_throughput:.2f}x CPU)",
            "at least 0.90x",
        )
        show(f"eventpipe peak RSS at {big['lines']:,} lines", f"{big['rss_mb']:.0f} MB", "at most 1024 MB")
        show(f"peak RSS at {args.scale}x events / at 1x", f"{big['rss_mb'] / rss:.2f}x", "at most 1.10x")


def snowflake(events: int) -> None:
    """The Snowflake load of the N-event hour on the emulator (the load's own process: the emulator's time is only
    in the wall time), with the seconds of each phase (cumulative: a phase's time includes the emulator's answers)."""
    workdir = OUT / f"snowflake-{int(time.time())}"
    workdir.mkdir(parents=True)
    r = child("measure_snowflake", dataset(events), workdir)
    report("snowflake", r)
    for name, seconds in sorted(r["phases"].items(), key=lambda item: -item[1]):
        print(f"  {name:<18} {seconds:7.2f}s  {seconds / r['seconds']:4.0%}  {SNOWFLAKE_PHASES[name]}")


def show(label: str, value: str, target: str) -> None:
    print(f"{label:<48} {value:<24} target {target}")


if __name__ == "__main__":
    main()
