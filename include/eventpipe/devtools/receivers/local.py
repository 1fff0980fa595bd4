"""The local receivers of the embedded default: Splunk HEC, Heap and GA4 stand-ins, and their Connections.

``local_receivers()`` starts the three servers on free loopback ports, writing what they accept under
``$EVENTPIPE_HOME/received/{splunk,heap,ga4}/``, and defines the Airflow Connections the example destinations file
names (``AIRFLOW_CONN_EVENTPIPE_LOCAL_HEC`` / ``_HEAP`` / ``_GA4``) in this process's environment, with a HEC token
and a GA4 api_secret generated for the run. Nothing is written to a file; on exit the servers stop and the
environment is restored. A connection already defined in the environment is left alone (and its receiver not
started), so the same run can point at a real endpoint instead.

``python -m eventpipe.devtools.receivers.local -- <command...>`` runs a command (``airflow standalone`` for
``eventpipe up``) with the receivers up and the connections in its environment, and stops them when it exits.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eventpipe import settings

HEC_CONN, HEAP_CONN, GA4_CONN, S3_CONN = (
    "eventpipe_local_hec",
    "eventpipe_local_heap",
    "eventpipe_local_ga4",
    "eventpipe_local_s3",
)


def env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def received_dir(home: Path | None = None) -> Path:
    return (home or settings.eventpipe_home()) / "received"


def local_s3_connection(home: Path | None = None) -> str:
    """The embedded default's S3 stand-in: an Airflow ``fs`` connection to ``$EVENTPIPE_HOME/s3``."""
    return json.dumps({"conn_type": "fs", "extra": {"path": str((home or settings.eventpipe_home()) / "s3")}})


@dataclass
class LocalReceivers:
    urls: dict[str, str] = field(default_factory=dict)
    servers: list = field(default_factory=list)
    environ: dict[str, str] = field(default_factory=dict, repr=False)


@contextlib.contextmanager
def local_receivers(
    home: Path | None = None, on_append: Callable[[str, str, str], None] | None = None
) -> Iterator[LocalReceivers]:
    """``on_append(receiver, file name, text)``, when given, is called as each receiver (``splunk``, ``heap``,
    ``ga4``) writes what it accepted: a test's record of when each event arrived."""
    from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
    from eventpipe.devtools.receivers.hec import HecReceiver

    out = received_dir(home)
    started = LocalReceivers()
    try:
        if env_name(HEC_CONN) not in os.environ:
            token = str(uuid.uuid4())
            hec = HecReceiver(tokens={token: {"ack": True, "indexes": None}}, out_dir=out / "splunk").start()
            started.servers.append(hec)
            started.urls["splunk"] = hec.url
            hec.on_append = _tagged(on_append, "splunk")
            started.environ[env_name(HEC_CONN)] = _http_connection(hec.port, password=token)
        if env_name(HEAP_CONN) not in os.environ:
            heap = HeapReceiver(out / "heap").start()
            started.servers.append(heap)
            started.urls["heap"] = heap.url
            heap.on_append = _tagged(on_append, "heap")
            started.environ[env_name(HEAP_CONN)] = _http_connection(heap.port)
        if env_name(GA4_CONN) not in os.environ:
            api_secret = secrets.token_urlsafe(18)
            ga4 = Ga4Receiver(out / "ga4", api_secret=api_secret).start()
            started.servers.append(ga4)
            started.urls["ga4"] = ga4.url
            ga4.on_append = _tagged(on_append, "ga4")
            started.environ[env_name(GA4_CONN)] = _http_connection(ga4.port, password=api_secret)
        if env_name(S3_CONN) not in os.environ:
            started.environ[env_name(S3_CONN)] = local_s3_connection(home)
        saved = {key: os.environ.get(key) for key in started.environ}
        os.environ.update(started.environ)
        try:
            yield started
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    finally:
        for server in reversed(started.servers):
            server.stop()


def _tagged(on_append: Callable[[str, str, str], None] | None, receiver: str) -> Callable[[str, str], None] | None:
    return None if on_append is None else functools.partial(on_append, receiver)


def _http_connection(port: int, password: str | None = None) -> str:
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    if password:
        conn["password"] = password
    return json.dumps(conn)


def main(argv: list[str] | None = None) -> int:
    """Run a command with the local receivers up (``eventpipe up`` runs ``airflow standalone`` this way)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m eventpipe.devtools.receivers.local -- <command...>", file=sys.stderr)
        return 2
    with local_receivers() as receivers:
        print("local receivers: " + ", ".join(f"{name} {url}" for name, url in receivers.urls.items()), flush=True)
        child = subprocess.Popen(args)

        def forward(signum, _frame) -> None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, forward)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
