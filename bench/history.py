"""Dedup benchmark: the same hour loaded over 2M, 20M and 60M rows of history, on the embedded DuckDB.

    uv run python bench/history.py [--events 110000] [--history 2000000,20000000,60000000] [--per-day 2000000]

The new hour is generated once (cached under bench/out/, like bench/ingest.py: gzip NDJSON, late
events dated up to 3 days back, duplicates), plus one file of ``--very-late`` events dated 300 days back
(an offline device's flush; the validator accepts up to 366 days), so the hour's events fall on days far
apart. For each history size, a fresh warehouse gets that many rows of history written directly by DuckDB
SQL (no JSON, fast): event ids that are not the new hour's, inserted in event_time order as the loader
inserts each load, split 70/15/15 over session, audit and platform. Two shapes of history:

  --per-day N (default 2,000,000)  constant density: N events a day, time-ordered, ending where the loaded
                                   hour's day begins, so more history is more days, not denser days
                                   (2M rows: one day, 60M: 30 days); the hour's windows read the same
                                   days of history at every size past a few days (issue 23);
  --per-day 0                      the year before the hour (within the validator's 366 days), however
                                   many rows: more history is denser days (issue 11's shape).
Then, in a fresh child process (a cold warehouse, its own peak RSS), ``load_interval`` loads the hour.

Prints each load's wall and CPU seconds (CPU time is steadier on a shared machine), the rows loaded
(the same at every size: the history holds none of the hour's ids), ``--repeat`` times with the sizes
interleaved, and the ratios of the medians to the smallest history; at the largest, beside the target
(issues 11 and 23): at most 1.1x. Then the row groups of history the
dedup read at the largest size, from EXPLAIN ANALYZE of the pruned anti-join, per event-time window.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # bench/ingest.py: the cached landing data, the peak-RSS reading

TARGET = 1.1
KIND_SHARES = {"session_event": 0.70, "audit_event": 0.15, "platform_event": 0.15}


def history_span(rows: int, per_day: int) -> tuple[datetime, timedelta]:
    """Where history starts and how long it spans (module docstring: the two shapes)."""
    if not per_day:
        return ingest.HOUR - timedelta(days=365), timedelta(days=365)
    span = timedelta(days=rows / per_day)
    return ingest.HOUR.replace(hour=0) - span, span


def write_history(database: Path, rows: int, per_day: int) -> None:
    """``rows`` raw rows over ``history_span``, each table in event_time order."""
    from eventpipe import warehouse

    start, span = history_span(rows, per_day)

    with warehouse.connect(database) as con:
        for table, share in KIND_SHARES.items():
            count = int(rows * share)
            if not count:
                continue
            # Only the NOT NULL columns: the dedup reads event_id and event_time, the rest is ballast. A caveat:
            # over this ballast a commit's auto-checkpoint did not grow with the table (2M to 60M rows), while
            # over real rows it grew from 0.6 to 2-6 s CPU a group as one 4M-line hour loaded (issue 23).
            con.execute(
                f"""
                insert into raw.{table} (event_id, organization_id, event_time, event_type, payload,
                                         _source_file, _line_number, _batch_id, _loaded_at, _commit_seq)
                select
                    'history-{table}-' || i,
                    'org-' || (i % 3),
                    $start + to_microseconds((i * ($span_us // $count))::bigint),
                    'history',
                    '{{}}',
                    'history',
                    i,
                    'history',
                    $hour,
                    0  -- history counts as loaded before commits were numbered
                from range($count) as r (i)  -- in order of i, so of event_time: insertion order is kept
                """,
                {"start": start, "span_us": span // timedelta(microseconds=1), "hour": ingest.HOUR, "count": count},
            )
        con.execute("checkpoint")


def measure_load() -> None:
    """In a child: load the hour into the warehouse given, report time, rows and peak RSS."""
    from eventpipe import warehouse
    from eventpipe.ingest import load

    landing, database = Path(sys.argv[1]), Path(sys.argv[2])
    with warehouse.connect(database) as con:
        started, cpu = time.perf_counter(), time.process_time()
        result = load.load_interval(con, str(landing), ingest.HOUR, run_id="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    report = {"lines": result.lines, "loaded": result.loaded, "seconds": seconds, "cpu": cpu}
    print(json.dumps(report | {"rss_mb": ingest._peak_rss_mb()}))


def with_very_late_events(landing: Path, workdir: Path, count: int) -> Path:
    """A copy of ``landing`` with one more file in the hour: ``count`` new events dated 300 days back."""
    import gzip

    from eventpipe.ingest import extract

    copy = workdir / "landing"
    shutil.copytree(landing, copy)
    prefix = Path(extract.partition_prefix(str(copy), ingest.HOUR))
    with gzip.open(next(prefix.glob("*.json.gz"))) as first_file:
        template = json.loads(first_file.readline())
    moment = f"{ingest.HOUR - timedelta(days=300):%Y-%m-%dT%H:%M:%S}Z"
    lines = [json.dumps(template | {"eventId": f"very-late-{i}", "eventTime": moment}) for i in range(count)]
    (prefix / "very-late.json.gz").write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    return copy


def row_groups_read(database: Path, landing: Path) -> list[str]:
    """EXPLAIN ANALYZE of the dedup against this history, for the hour's lines: row groups scanned per table,
    per event-time window."""
    from eventpipe import warehouse
    from eventpipe.ingest import extract, validate
    from eventpipe.sql import load_sql

    read = []
    with warehouse.connect(database) as con:
        con.begin()
        con.execute(load_sql("duckdb", "create_staged_line"))
        validate._validate_files(con, [f.url for f in extract.partition_files(str(landing), ingest.HOUR)], ingest.HOUR)
        con.execute(load_sql("duckdb", "select_first_copies"))
        for number, window in enumerate(validate.new_event_windows(con), start=1):
            con.execute(load_sql("duckdb", "set_new_event_window"), {"window_number": number})
            plan = con.execute("explain analyze " + load_sql("duckdb", "select_new_events")).fetchall()[0][1]
            tables = re.findall(r"Table: ([\w.\"]+)", plan)
            scanned = re.findall(r"Row Groups Scanned: ([\d,]+ / [\d,]+)", plan)
            pairs = [f"{table} {groups}" for table, groups in zip(tables, scanned, strict=False) if "_event" in table]
            span = f"{window['window_start']:%Y-%m-%d} to {window['window_end']:%Y-%m-%d}"
            read.append(f"window {span}: {'; '.join(pairs)}")
        con.rollback()
    return read


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=110_000)
    parser.add_argument("--history", default="2000000,20000000,60000000")
    parser.add_argument("--per-day", type=int, default=2_000_000, help="history events a day (0: over the year)")
    parser.add_argument("--repeat", type=int, default=3, help="loads at each size, the sizes interleaved")
    parser.add_argument("--very-late", type=int, default=100, help="events dated 300 days back (0: none)")
    args = parser.parse_args()

    sizes = [int(size) for size in args.history.split(",")]
    runs = ingest.OUT / f"history-{int(time.time())}"
    landing = ingest.dataset(args.events)
    if args.very_late:
        landing = with_very_late_events(landing, runs, args.very_late)
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    results: dict[int, list[dict]] = {size: [] for size in sizes}
    for attempt in range(1, args.repeat + 1):  # the sizes interleaved, so the machine's load falls on each alike
        for size in sizes:
            workdir = runs / f"history-{size}-{attempt}"
            workdir.mkdir(parents=True)
            database = workdir / "eventpipe.duckdb"
            started = time.perf_counter()
            # History is written once per size and copied for each run (the load adds to the copy).
            shape = f"{args.per_day}-a-day" if args.per_day else "year"
            cached = ingest.OUT / "history-cache" / f"history-{size}-{shape}.duckdb"
            if not cached.exists():
                cached.parent.mkdir(parents=True, exist_ok=True)
                write_history(cached.with_suffix(".partial"), size, args.per_day)
                cached.with_suffix(".partial").rename(cached)
            shutil.copyfile(cached, database)
            # Write the copy out before the load is timed: the kernel flushing hundreds of MB of dirty pages during
            # the load slowed it by up to half (measured), which is the copy's cost, not the dedup's.
            os.sync()
            written = time.perf_counter() - started
            r = load_child(landing, database)
            results[size].append(r)
            print(
                f"history {size:>12,} rows #{attempt} (ready in {written:5.1f}s): loaded {r['loaded']:,} of"
                f" {r['lines']:,} lines in {r['seconds']:6.2f}s wall {r['cpu']:6.2f}s CPU,"
                f" peak RSS {r['rss_mb']:5.0f} MB",
                flush=True,
            )
            if size == max(sizes) and attempt == args.repeat:
                for read in row_groups_read(database, landing) or ["?"]:
                    print("  dedup read, at this history,", read)
            shutil.rmtree(workdir)
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    assert len({r["loaded"] for runs_ in results.values() for r in runs_}) == 1, "the same hour must load the same rows"

    def median(size: int, key: str) -> float:
        values = sorted(r[key] for r in results[size])
        return values[len(values) // 2]

    base = min(sizes)
    for size in sorted(sizes)[1:]:
        wall, cpu = median(size, "seconds") / median(base, "seconds"), median(size, "cpu") / median(base, "cpu")
        target = f"  target at most {TARGET}x" if size == max(sizes) else ""
        print(
            f"load over {size:,} rows / over {base:,} (medians of {args.repeat}):"
            f" {wall:.2f}x wall ({cpu:.2f}x CPU){target}"
        )


def load_child(landing: Path, database: Path) -> dict:
    """``measure_load`` in a fresh interpreter: a cold warehouse, its own peak RSS."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import history; history.measure_load()"
    output = subprocess.run(
        [sys.executable, "-c", code, str(landing), str(database)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
