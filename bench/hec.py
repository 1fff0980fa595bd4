"""HEC delivery benchmark: the batched gzip client against one event per request, on the local receiver.

    uv run python bench/hec.py [--events 20000] [--single 2000] [--batch 500]

Starts one receiver (``eventpipe.devtools.receivers.hec_cli.serve``, ack-enabled token) in its own process, so the
client and the server do not share one GIL, then sends App-Event-shaped payloads:

  1. batched:      HecClient(max_batch_events=--batch, gzip=True)              N = --events
  2. batched+ack:  the same with use_ack=True (delivered only once acked)      N = --events
  3. one/request:  HecClient(max_batch_events=1, gzip=False)                   N = --single, scaled to --events

Every run is checked at the receiver (each event id exactly once in its NDJSON files) before its figure is
printed. Prints events/s, bytes on the wire, and the batched : one-per-request ratio.

Where the batched client's time went (cProfile, both sides): json.dumps of each HEC object (~6 us/event), gzip
level 6 (~2.3 us/event), and on the receiver a Python json decode + re-encode of every event (~16 us/event),
while the client waited for each answer. Now: msgspec serialization with one object a line, gzip level 1, the
next batch prepared while the current one is with the receiver, and a receiver fast path that decodes each line
with the event left raw and writes it as received. The one-per-request client is bound by the per-request cost
(~200-250 us), so the ratio is sensitive to other load on the machine: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from eventpipe.deliver.hec.client import HecClient

TOKEN_ENV = "EVENTPIPE_HEC_TOKEN"


def app_events(n: int, run: str) -> list[dict]:
    """Session events the size and shape the platform streams (~450 bytes each as HEC objects)."""
    events = []
    for i in range(n):
        event_id = f"{run}-{i:07d}"
        events.append(
            {
                "event_id": event_id,
                "time": 1_795_000_000.0 + i / 100,
                "event": {
                    "eventId": event_id,
                    "organizationId": f"org-{i % 3}",
                    "eventTime": "2026-11-27T10:15:30.123Z",
                    "kind": "Session",
                    "type": "action_run",
                    "appId": f"app-{i % 17}",
                    "branchId": "main",
                    "deployId": "deploy-42",
                    "sessionId": f"session-{i // 15}",
                    "actorId": f"actor-{i % 101}",
                    "action": {"id": f"action-{i % 9}", "name": "Send confirmation SMS"},
                    "status": "ok",
                    "durationMillis": 40 + i % 300,
                    "userAgent": {"deviceClass": "mobile", "browser": "Safari", "os": "iOS"},
                },
            }
        )
    return events


def start_receiver(token: str, out_dir: Path) -> tuple[subprocess.Popen, str]:
    code = "import sys; from eventpipe.devtools.receivers.hec_cli import serve; sys.exit(serve(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--ack", "--out-dir", str(out_dir)],
        env={**os.environ, TOKEN_ENV: token},
        stdout=subprocess.PIPE,
        text=True,
    )
    banner = process.stdout.readline()
    return process, banner.split(" on ")[1].split(" ")[0]


def received(out_dir: Path, run: str) -> Counter:
    counts: Counter = Counter()
    for path in out_dir.glob("*.ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                event_id = json.loads(line)["fields"]["event_id"]
                if event_id.startswith(f"{run}-"):
                    counts[event_id] += 1
    return counts


def measure(url: str, token: str, out_dir: Path, run: str, n: int, **options) -> dict:
    events = app_events(n, run)
    with HecClient(url, token, **options) as client:
        started = time.perf_counter()
        report = client.send(events)
        seconds = time.perf_counter() - started
    counts = received(out_dir, run)
    assert len(counts) == n and set(counts.values()) == {1}, f"{run}: not every event exactly once"
    return {
        "events": n,
        "seconds": seconds,
        "rate": n / seconds,
        "requests": report.attempts,
        "wire_mb": report.bytes_sent / 1e6,
        "raw_mb": report.bytes_raw / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    token = str(uuid.uuid4())
    with tempfile.TemporaryDirectory(prefix="hec-bench-") as tmp:
        out_dir = Path(tmp)
        process, url = start_receiver(token, out_dir)
        try:
            measure(url, token, out_dir, "warmup", 500, max_batch_events=args.batch)
            batched = measure(url, token, out_dir, "batched", args.events, max_batch_events=args.batch)
            acked = measure(
                url, token, out_dir, "acked", args.events, max_batch_events=args.batch, use_ack=True, ack_poll_s=0.05
            )
            single = measure(url, token, out_dir, "single", args.single, max_batch_events=1, gzip=False)
        finally:
            process.terminate()
            process.wait(timeout=10)

    print(f"receiver: {url} (separate process, ack-enabled token); events ~{app_event_size()} bytes as HEC objects")
    for name, result in (
        (f"batched gzip ({args.batch}/request)", batched),
        ("batched gzip + indexer ack", acked),
        ("one event per request, no gzip", single),
    ):
        print(
            f"  {name:34} {result['events']:>7,} events in {result['seconds']:6.2f}s = {result['rate']:>9,.0f} events/s"
            f"  ({result['requests']:,} requests, {result['wire_mb']:.2f} MB on the wire of {result['raw_mb']:.2f} MB)"
        )
    scaled = args.events / single["rate"]
    print(
        f"  one-per-request scaled to {args.events:,} events: {scaled:.1f}s vs {batched['seconds']:.2f}s batched; "
        f"ratio batched : one-per-request = {batched['rate'] / single['rate']:.1f}x"
    )


def app_event_size() -> int:
    event = app_events(1, "size")[0]
    return len(json.dumps({"time": event["time"], "event": event["event"], "fields": {"event_id": event["event_id"]}}))


if __name__ == "__main__":
    main()
