"""``eventpipe hec-receiver``: a local Splunk HEC-compatible receiver (``HecReceiver``) served until interrupted.

Also ``python -m eventpipe.devtools.receivers.hec_cli [options]``. The token comes from ``EVENTPIPE_HEC_TOKEN`` by
default (``--token`` is visible on the command line) and is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from pathlib import Path

from eventpipe.deliver.hec import REDACTED, TOKEN_ENV
from eventpipe.devtools.receivers.body import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECOMPRESSED_BYTES
from eventpipe.devtools.receivers.hec import HecReceiver
from eventpipe.devtools.receivers.server import Faults, stop_on_signals


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventpipe hec-receiver",
        description="A local Splunk HEC-compatible receiver; writes what it accepts to <out-dir>/<index>.ndjson.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port (printed)")
    parser.add_argument(
        "--token", help=f"accepted token; prefer the {TOKEN_ENV} environment variable (command lines are visible)"
    )
    parser.add_argument("--ack", action="store_true", help="the token uses indexer acknowledgement")
    parser.add_argument("--index", action="append", help="an index the token may write to (repeat; default: any)")
    parser.add_argument("--out-dir", type=Path, help="default: $EVENTPIPE_HOME/received/splunk")
    parser.add_argument("--busy-rate", type=float, default=0.0, help="fraction of requests answered 503 (code 9)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500 (code 8)")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections reset unanswered")
    parser.add_argument("--drop-when", choices=("before", "after"), default="before")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--ack-delay", type=float, default=0.0, help="seconds before an ackId reports true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger bodies are answered 413, unread"
    )
    parser.add_argument(
        "--max-decompressed-bytes",
        type=int,
        default=DEFAULT_MAX_DECOMPRESSED_BYTES,
        help="a gzip body inflating past this is answered 413",
    )
    return parser


def serve(argv: list[str] | None = None) -> int:
    """``eventpipe hec-receiver``: serve until interrupted. The token comes from the environment by default."""
    args = _parser().parse_args(argv)
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"hec-receiver: no token; set {TOKEN_ENV} (or --token)", file=sys.stderr)
        return 2
    faults = Faults(
        busy_rate=args.busy_rate,
        error_rate=args.error_rate,
        drop_connection_rate=args.drop_rate,
        drop_when=args.drop_when,
        latency_s=args.latency,
        ack_delay_s=args.ack_delay,
        seed=args.seed,
    )
    tokens = {token: {"ack": args.ack, "indexes": args.index}}
    stop = threading.Event()
    stop_on_signals(stop)
    with HecReceiver(
        args.host,
        args.port,
        tokens,
        args.out_dir,
        faults,
        max_body_bytes=args.max_body_bytes,
        max_decompressed_bytes=args.max_decompressed_bytes,
    ) as receiver:
        source = "--token" if args.token else TOKEN_ENV
        print(
            f"HEC receiver on {receiver.url} (token {REDACTED} from {source}, ack {'on' if args.ack else 'off'}), "
            f"writing {receiver.out_dir}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(serve())
