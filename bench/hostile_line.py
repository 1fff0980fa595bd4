"""Memory and time of loading one hostile line: a 400 MB JSON line in a small gzip, through the real load.

    uv run python bench/hostile_line.py [--line-mb 400] [--cap-mb 16]

Writes (under bench/out/) one landing file holding a valid event, a line of ``--line-mb`` MB (a JSON
object with one huge string field, highly compressible: the gzip is small) and another valid event,
then loads its hour with ``load_interval`` into a fresh DuckDB warehouse in a child process (so peak
RSS is the load's own) and prints: seconds, peak RSS, what was quarantined (reason, bytes kept, detail)
and the events loaded. Also the same child on a file without the huge line, for the baseline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).parent / "out"
HOUR = datetime(2026, 11, 27, 10)
PARTITION = "dt=2026-11-27/hour=10"

CHILD = """
import json, resource, sys, time
from datetime import datetime
from eventpipe import warehouse
from eventpipe.ingest import load
started = time.perf_counter()
with warehouse.connect(sys.argv[2]) as con:
    result = load.load_interval(con, sys.argv[1], datetime(2026, 11, 27, 10), run_id="bench")
    quarantined = con.execute(
        "SELECT reason, octet_length(raw_line), detail FROM raw.quarantined_event"
    ).fetchall()
print(json.dumps({
    "seconds": round(time.perf_counter() - started, 2),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "loaded": result.loaded,
    "quarantined": quarantined,
}))
"""


def event(event_id: str, **extra) -> bytes:
    body = {
        "eventId": event_id,
        "organizationId": "org-1",
        "eventTime": "2026-11-27T10:05:00Z",
        "kind": "Audit",
        "type": "user_login",
    }
    return json.dumps(body | extra).encode()


def landing_file(root: Path, line_mb: int) -> Path:
    path = root / PARTITION / "hostile.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    piece = b"0123456789abcdef" * 65536  # 1 MiB
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(event("before") + b"\n")
        if line_mb:
            out.write(event("huge")[:-1] + b',"pad":"')
            for _ in range(line_mb):
                out.write(piece)
            out.write(b'"}\n')
        out.write(event("after") + b"\n")
    return path


def run(line_mb: int, cap_mb: int) -> dict:
    with tempfile.TemporaryDirectory(dir=OUT) as scratch:
        root = Path(scratch)
        path = landing_file(root / "landing", line_mb)
        env = {"EVENTPIPE_MAX_LINE_BYTES": str(cap_mb << 20), "PATH": "/usr/bin:/bin"}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(root / "landing"), str(root / "wh.duckdb")],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        figures = json.loads(child.stdout)
        figures["gzip_bytes"] = path.stat().st_size
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line-mb", type=int, default=400)
    parser.add_argument("--cap-mb", type=int, default=16)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for label, line_mb in (("baseline, no huge line", 0), (f"a {args.line_mb} MiB line", args.line_mb)):
        figures = run(line_mb, args.cap_mb)
        print(
            f"{label:<24} gzip {figures['gzip_bytes']:>10,} B  {figures['seconds']:>6.2f} s"
            f"  peak RSS {figures['peak_rss_mib']:>5,} MiB  loaded {figures['loaded']}"
        )
        for reason, kept, detail in figures["quarantined"]:
            print(f"  quarantined {reason}: {kept:,} bytes kept; {detail}")


if __name__ == "__main__":
    main()
