"""Freshness benchmark: with the scheduler up (what ``eventpipe up`` starts, embedded default), a generated file
lands every ``--every`` seconds for ``--minutes`` minutes; for every event, when it was first visible in raw, at
each of the four destinations and in ``marts.fct_session_events``; meanwhile the Activity Explorer is asked every
second, and its answers counted.

    uv run python bench/freshness.py [--minutes 10] [--every 10] [--sessions 3]

The continuous DAGs (``load_events``, ``deliver_events``, ``transform``) are unpaused over REST, ``event_pipeline``
stays paused; nothing is triggered by hand. Each landed file holds one organization's sessions of the previous
hour (so every event is within GA4's 72 hours), written into the current arrival hour's folder under a new name.
Visibility is polled every second (raw through a read-only connection when DuckDB lets one in, the marts through
the read snapshot when it does not, the receivers' files as they grow), so a figure is within about a second of
the truth.

Figures are for App Events (Session events: raw, Splunk, S3, marts) and analytics events (Heap, GA4). Targets: raw
and every destination p95 at most 120 s; marts p95 at most 600 s; at least 99% of explorer requests answered (200)
from its first answer on (before the first build there is nothing to answer with).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

OUT = Path(__file__).parent / "out" / "freshness"
TARGETS = {"raw": 120, "splunk": 120, "s3": 120, "heap": 120, "ga4": 120, "marts": 600}
EXPLORER_TARGET = 0.99


class Seen:
    """Event id -> when it was first seen (monotonic seconds), per stage."""

    def __init__(self) -> None:
        self.at: dict[str, dict[str, float]] = {stage: {} for stage in TARGETS}
        self.lock = threading.Lock()

    def add(self, stage: str, ids) -> None:
        now = time.monotonic()
        with self.lock:
            for event_id in ids:
                self.at[stage].setdefault(event_id, now)


def api(base: str, token: str, path: str, body=None, method=None):
    request = urllib.request.Request(
        base + path, data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def watch(home: Path, seen: Seen, stop: threading.Event) -> None:
    import duckdb

    offsets: dict[Path, int] = {}
    s3_seen: set[Path] = set()
    last_seq = -1

    def grown(path: Path, key) -> list[str]:
        with open(path, "rb") as handle:
            handle.seek(offsets.get(path, 0))
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        offsets[path] = offsets.get(path, 0) + len(complete)
        return [key(json.loads(line)) for line in complete.splitlines() if line.strip()]

    readers = {"splunk": lambda r: r["fields"]["event_id"], "heap": lambda r: r["idempotency_key"],
               "ga4": lambda r: r["params"]["event_id"]}  # fmt: skip
    while not stop.is_set():
        for stage, key in readers.items():
            for path in (home / "received" / stage).glob("*.ndjson"):
                seen.add(stage, grown(path, key))
        for path in (home / "s3").glob("*/**/Session/dt=*/hour=*/*.json.gz"):
            if path not in s3_seen:
                s3_seen.add(path)
                seen.add(
                    "s3", [json.loads(line)["eventId"] for line in gzip.decompress(path.read_bytes()).splitlines()]
                )
        try:
            with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
                rows = con.execute(
                    "select event_id, _commit_seq from raw.session_event where _commit_seq > ?", [last_seq]
                ).fetchall()
                seen.add("raw", [row[0] for row in rows])
                last_seq = max([last_seq, *(row[1] for row in rows)])
                marts = con.execute("select event_id from marts.fct_session_events").fetchall()
                seen.add("marts", [row[0] for row in marts])
        except duckdb.Error:
            pass  # a writer holds it (or nothing is built yet): next second
        stop.wait(1.0)


def ask_explorer(base: str, token: str, answers: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            status, _ = api(base, token, "/explorer/api/range")
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0
        answers.append(status)
        stop.wait(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=10, help="seconds between two landed files")
    parser.add_argument("--sessions", type=int, default=3, help="sessions per landed file")
    parser.add_argument("--drain", type=float, default=12, help="minutes to wait for the last files after landing")
    args = parser.parse_args()

    home = OUT / "home"
    shutil.rmtree(OUT, ignore_errors=True)
    os.environ.update(EVENTPIPE_HOME=str(home), AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True")
    os.environ.pop("EVENTPIPE_LANDING", None)
    from eventpipe.devtools.generate.landing import generate
    from eventpipe.local import up
    from eventpipe.utc import hour_floor, utc_now

    port = 8097
    base = f"http://127.0.0.1:{port}"
    process = up.start_standalone(port, log_path=OUT / "standalone.log")
    seen, landed, answers = Seen(), {}, []
    stop = threading.Event()
    try:
        up.wait_healthy(base, process)
        token = up.access_token(base, "admin", up.admin_password())
        deadline = time.monotonic() + 180
        while True:
            try:
                for dag_id in ("load_events", "deliver_events", "transform"):
                    api(base, token, f"/api/v2/dags/{dag_id}", {"is_paused": False}, method="PATCH")
                break
            except urllib.error.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(3)  # the DAG processor has not registered them yet
        threads = [threading.Thread(target=watch, args=(home, seen, stop), daemon=True),
                   threading.Thread(target=ask_explorer, args=(base, token, answers, stop), daemon=True)]  # fmt: skip
        for thread in threads:
            thread.start()
        staging = OUT / "staging"
        began, index = time.monotonic(), 0
        while time.monotonic() - began < args.minutes * 60:
            now = utc_now()
            folder = home / "landing" / f"dt={now:%Y-%m-%d}" / f"hour={now:%H}"
            shutil.rmtree(staging, ignore_errors=True)
            generate(landing=str(staging), start=hour_floor(now) - timedelta(hours=1), hours=1, orgs=1,
                     sessions_per_hour=args.sessions, seed=1000 + index, files_per_hour=1, late_fraction=0,
                     duplicate_fraction=0, malformed_fraction=0)  # fmt: skip
            (source,) = staging.rglob("*.json.gz")
            events = [json.loads(line) for line in gzip.decompress(source.read_bytes()).splitlines()]
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"bench-{index:04d}.json.gz"
            shutil.copy(source, target.with_suffix(".tmp"))
            os.replace(target.with_suffix(".tmp"), target)
            at = time.monotonic()
            landed.update({event["eventId"]: (at, event["kind"], event["type"]) for event in events})
            index += 1
            time.sleep(max(0.0, began + index * args.every - time.monotonic()))
        print(f"landed {index} files, {len(landed):,} events in {args.minutes:g} min; draining", flush=True)
        sessions = {event_id for event_id, (_, kind, _) in landed.items() if kind == "Session"}
        drain_until = time.monotonic() + args.drain * 60
        while time.monotonic() < drain_until:
            with seen.lock:
                done = all(sessions <= set(seen.at[stage]) for stage in ("raw", "splunk", "s3", "marts"))
            if done:
                break
            time.sleep(5)
    finally:
        stop.set()
        up.stop(process)

    # Before the first build there are no marts to read (a 503 says "not built yet"): the target counts the requests
    # from the first answer on, while the pipeline writes every minute; both figures are printed.
    first = next((i for i, status in enumerate(answers) if status == 200), len(answers))
    after = answers[first:]
    rate = sum(a == 200 for a in after) / max(1, len(after))
    verdict = "holds" if rate >= EXPLORER_TARGET else "MISSED"
    print(f"explorer: {sum(a == 200 for a in answers)} of {len(answers)} requests answered 200, {first} refused before"
          f" the first answer (nothing built yet); from the first answer on {sum(a == 200 for a in after)} of"
          f" {len(after)} ({rate:.1%}; target >= {EXPLORER_TARGET:.0%}: {verdict});"
          f" others: {sorted({a for a in answers if a != 200})}")  # fmt: skip
    for stage, target in TARGETS.items():  # App Events (Session kind) everywhere; Heap and GA4 take analytics events
        analytics_only = stage in ("heap", "ga4")
        wanted = {
            e for e, (_, kind, kind_type) in landed.items()
            if kind == "Session" and (not analytics_only or kind_type == "analytics_event")
        }  # fmt: skip
        delays = sorted(seen.at[stage][e] - landed[e][0] for e in wanted if e in seen.at[stage])
        missing = len(wanted) - len(delays)
        if not delays:
            print(f"  {stage:<7} nothing seen (of {len(wanted)})")
            continue
        p50, p95 = statistics.median(delays), delays[int(0.95 * (len(delays) - 1))]
        verdict = "holds" if p95 <= target and not missing else "MISSED"
        print(f"  {stage:<7} p50 {p50:6.0f} s  p95 {p95:6.0f} s  max {delays[-1]:6.0f} s  (target p95 <= {target} s:"
              f" {verdict}); {len(delays):,} events, {missing} not seen")  # fmt: skip


if __name__ == "__main__":
    main()
