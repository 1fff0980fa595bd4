"""The HTTP plumbing the local stand-ins share (the HEC receiver, the Heap and GA4 receivers).

- ``Faults``: failure injection (503 busy, 500, latency, dropped connections, slow acks, a token revoked mid-run)
  drawn from one seeded RNG, so a failing test run can be replayed;
- ``Reply``: one answer (status, JSON body, Retry-After), or a connection dropped "before" / "after" the request
  was acted on (reset, nothing answered);
- ``Handler``: HTTP/1.1 keep-alive, Nagle off, an idle timeout; ``answer``, ``answer_unread`` (for a request whose
  body is left unread) and ``reset`` (SO_LINGER 0: the sender cannot know whether its request landed). It logs
  nothing by default, never a query string (GA4's api_secret rides in it); a subclass sets its Content-Type;
- ``Server``: threaded, tracking its connections so that ``stop`` really cuts the kept-alive ones;
- ``read_ndjson`` and ``stop_on_signals``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import signal
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from eventpipe.devtools.receivers.body import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECOMPRESSED_BYTES, finish_unread

log = logging.getLogger(__name__)


@dataclass
class Faults:
    """Failure injection, drawn from one seeded RNG so a run replays; safe to change while serving (``update``).

    Rates are probabilities per request to the ``endpoints`` named ("event", "raw", "ack"). ``drop_when`` says
    whether a dropped connection loses the batch ("before" persisting: a retry is safe) or keeps it ("after": the
    sender saw no answer but the events are in, so its retry duplicates them).
    """

    busy_rate: float = 0.0
    retry_after_s: int | None = None
    error_rate: float = 0.0
    latency_s: float = 0.0
    drop_connection_rate: float = 0.0
    drop_when: str = "before"
    ack_delay_s: float = 0.0
    revoke_token_after: int | None = None
    endpoints: frozenset[str] = frozenset({"event", "raw", "ack"})
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.drop_when not in ("before", "after"):
            raise ValueError(f"drop_when must be 'before' or 'after', not {self.drop_when!r}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def update(self, **changes: Any) -> None:
        """Change faults while the receiver serves (a burst of 503s, then calm), atomically for a request."""
        with self._lock:
            for name, value in changes.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise AttributeError(f"Faults has no setting {name!r}")
                setattr(self, name, value)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``; one lock so concurrent requests still draw a reproducible sequence."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate


@dataclass
class Reply:
    """An answer: ``body`` None is an empty body. ``dropped`` "before" / "after" the request was acted on: the
    connection is reset and nothing is answered; ``events`` is how many events the request carried in."""

    status: int
    body: Any = None
    retry_after: int | None = None
    dropped: str | None = None
    events: int = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the senders expect
    server_version = "eventpipe-stand-in"
    sys_version = ""
    timeout = 60  # an idle kept-alive connection is closed after this long
    disable_nagle_algorithm = True  # headers and body are two writes; Nagle + delayed ACK would add ~40 ms each
    content_type = "application/json"
    server: Server

    def answer(self, reply: Reply, close: bool = False) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if payload:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.end_headers()
        self.wfile.write(payload)

    def answer_unread(self, reply: Reply) -> None:
        """Answer a request whose body is left unread, then close the connection (the body cannot be skipped)."""
        self.close_connection = True
        self.answer(reply, close=True)
        with contextlib.suppress(OSError):
            self.wfile.flush()
        finish_unread(self.connection)

    def reset(self) -> None:
        """Close without answering, with a TCP reset: the sender cannot know whether its request landed."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # never the query string: it carries GA4's api_secret

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    """Serves ``handler`` for ``owner`` (the receiver, ``handler.server.owner``) in a daemon thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[Handler], owner: Any) -> None:
        super().__init__(address, handler)
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and cut kept-alive connections, so a stopped receiver really accepts nothing more."""
        self.shutdown()
        self.close_connections()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Typically a sender that gave up (timeout) before its answer was written: a debug line, not a traceback.
        log.debug("%s: connection from %s ended abruptly", self.owner, client_address[0], exc_info=True)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class NdjsonFiles:
    """What a receiver accepts: one append-only NDJSON file per name (``<out_dir>/<name>.ndjson``), shared by the
    server's threads, each write flushed so a reader sees it at once. ``on_append(name, text)``, when set, is
    called after each write, under the lock (a test's clock of when each record was received)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._files: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        self.on_append: Callable[[str, str], None] | None = None

    def append(self, name: str, text: str) -> None:
        with self._lock:
            handle = self._files.get(name)
            if handle is None or handle.closed:
                handle = self._files[name] = (self.out_dir / f"{name}.ndjson").open("a", encoding="utf-8")
            handle.write(text)
            handle.flush()
            if self.on_append is not None:
                self.on_append(name, text)

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()


class StandIn:
    """A stand-in's life: its ``Server`` on ``host:port`` (0: a free port) in a daemon thread, answering with
    ``handler``, and what it accepts written under ``out_dir``. Subclasses answer the requests."""

    handler: type[Handler]
    thread_name = "stand-in"

    def __init__(
        self,
        host: str,
        port: int,
        out_dir: Path | str,
        faults: Faults | None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> None:
        self.host, self.port = host, port
        self.out_dir = Path(out_dir)
        self.faults = faults or Faults()
        self.max_body_bytes, self.max_decompressed_bytes = max_body_bytes, max_decompressed_bytes
        self._lock = threading.Lock()
        self._written = NdjsonFiles(self.out_dir)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def on_append(self) -> Callable[[str, str], None] | None:
        """Called with (file name, text) after each accepted write, as it is written (None: nothing called)."""
        return self._written.on_append

    @on_append.setter
    def on_append(self, callback: Callable[[str, str], None] | None) -> None:
        self._written.on_append = callback

    def start(self):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._server = Server((self.host, self.port), self.handler, self)
        self.port = self._server.server_address[1]
        self._server.start(self.thread_name)
        return self

    def stop(self) -> None:
        """Stop serving and cut kept-alive connections, so a stopped stand-in really accepts nothing more."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self._written.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_ndjson(path: Path | str) -> list[dict[str, Any]]:
    """One dict per non-blank line of ``path``; none when it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (from the main thread only: signals cannot be handled elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
