"""The Snowflake emulator: fakesnow's HTTP server, spoken to by the real snowflake-connector-python.

``eventpipe run --target snowflake-emulator`` and the tests start it as a child process
(``python -m eventpipe.devtools.emulator``); the loader (through the Snowflake provider's hook) and dbt
(dbt-snowflake) connect to it over HTTP exactly as they would to an account, with host, port and
protocol pointed at it. Its databases persist as DuckDB files under ``$EVENTPIPE_HOME/snowflake``,
so an emulated warehouse outlives the run that filled it, like a real one.

What fakesnow cannot emulate (CREATE SHARE, GRANT ... TO SHARE, masking policies) is not asked of
it: the share's DDL is generated and checked as code (``eventpipe.share``).

Two behaviours of Snowflake that the load commits rely on (``eventpipe.warehouse.commits``) are added here, since
fakesnow's DuckDB answers otherwise (``Transactions``): a write conflict is an error the client sees, as Snowflake's
lock errors are (DuckDB aborts the second writer where Snowflake would make it wait; either way it retries), and a
transaction whose client is gone (SIGKILLed, or logged out without committing) is rolled back once it has been idle
``EVENTPIPE_EMULATOR_IDLE_ABORT_SECONDS`` (default 300, Snowflake's five minutes) and blocks another writer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventpipe import settings

# The emulator accepts any credentials; these are not secrets, and they never reach a real account.
EMULATOR_ACCOUNT = "fakesnow"
EMULATOR_USER = "eventpipe"
EMULATOR_PASSWORD = "emulator"  # fakesnow ignores it
DATABASE = "ANALYTICS"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def environ(self) -> dict[str, str]:
        """The environment that points the loader (an Airflow Connection) and dbt at this emulator."""
        extra = {
            "account": EMULATOR_ACCOUNT,
            "database": DATABASE,
            "warehouse": "EMULATOR",
            "host": self.host,
            "port": self.port,
            "protocol": "http",
        }
        connection = {
            "conn_type": "snowflake",
            "login": EMULATOR_USER,
            "password": EMULATOR_PASSWORD,
            "schema": "RAW",
            "extra": extra,
        }
        return {
            "EVENTPIPE_TARGET": "snowflake",
            "EVENTPIPE_DBT_TARGET": "snowflake_emulator",
            # What the emulator cannot run, dbt does otherwise on this target (dbt_project.yml reads them): no MERGE
            # inside a transaction, no qualified temporary tables.
            "EVENTPIPE_DBT_INCREMENTAL_STRATEGY": "delete+insert",
            "EVENTPIPE_DBT_TMP_RELATION_TYPE": "transient",
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": json.dumps(connection),
            "EVENTPIPE_EMULATOR_HOST": self.host,
            "EVENTPIPE_EMULATOR_PORT": str(self.port),
        }


class Transactions:
    """Each fakesnow session's open transaction, the write conflicts it meets, and the rolling back of idle ones.

    Wraps ``FakeSnowflakeConnection.cursor`` (a public method: every statement the server runs goes through a cursor
    it makes), so that each statement of a session runs under the session's lock and is timed, and a DuckDB write
    conflict becomes Snowflake's lock error (errno 625) instead of an unhandled exception, which the server would
    answer with HTTP 500 and the connector retry for minutes against an aborted transaction.
    """

    CONFLICT_ERRNO = 625  # Snowflake: "... has locked table ... and this lock has not yet been released"

    def __init__(self, idle_abort_seconds: float) -> None:
        self.idle_abort_seconds = idle_abort_seconds
        self._guard = threading.Lock()
        self._sessions: dict[int, dict[str, Any]] = {}  # id(connection) -> connection, lock, open, last_active

    def install(self) -> None:
        from fakesnow.fakes import FakeSnowflakeConnection

        make_cursor = FakeSnowflakeConnection.cursor
        transactions = self

        def cursor(connection, *args, **kwargs):
            made = make_cursor(connection, *args, **kwargs)
            made.execute = transactions.guarded(connection, made.execute)
            return made

        FakeSnowflakeConnection.cursor = cursor

    def _session(self, connection) -> dict[str, Any]:
        with self._guard:
            return self._sessions.setdefault(
                id(connection),
                {"connection": connection, "lock": threading.RLock(), "open": False, "last_active": time.monotonic()},
            )

    def guarded(self, connection, execute):
        import duckdb
        from snowflake.connector.errors import ProgrammingError

        session = self._session(connection)

        def run(command, *args, **kwargs):
            verb = command.lstrip().split(None, 1)[0].lower() if command.strip() else ""
            with session["lock"]:
                try:
                    result = execute(command, *args, **kwargs)
                except duckdb.TransactionException as error:
                    conflict = "conflict" in str(error).lower()
                    if conflict:
                        self._abort_idle(session)
                    raise ProgrammingError(
                        msg=f"write conflict (another transaction holds the row): {error}" if conflict else str(error),
                        errno=self.CONFLICT_ERRNO if conflict else 2,
                        sqlstate="57014" if conflict else "25000",
                    ) from None
                finally:
                    session["last_active"] = time.monotonic()
                if verb in ("begin", "start"):
                    session["open"] = True
                elif verb in ("commit", "rollback"):
                    session["open"] = False
                return result

        return run

    def _abort_idle(self, blocked: dict[str, Any]) -> None:
        """Roll back every other session idle in a transaction for longer than the limit (what Snowflake does to a
        transaction that blocks another while its client is gone)."""
        now = time.monotonic()
        with self._guard:
            others = [s for s in self._sessions.values() if s is not blocked and s["open"]]
        for session in others:
            if now - session["last_active"] < self.idle_abort_seconds or not session["lock"].acquire(blocking=False):
                continue
            try:
                session["connection"].rollback()
                session["open"] = False
                sys.stderr.write(f"emulator: rolled back a transaction idle for {now - session['last_active']:.0f}s\n")
            finally:
                session["lock"].release()


def data_dir() -> Path:
    return settings.eventpipe_home() / "snowflake"


def serve(argv: list[str] | None = None) -> int:
    """Run the emulator in this process until interrupted (``python -m eventpipe.devtools.emulator``)."""
    parser = argparse.ArgumentParser(prog="eventpipe-snowflake-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $EVENTPIPE_HOME/snowflake")
    args = parser.parse_args(argv)

    import importlib

    import uvicorn
    from fakesnow.instance import FakeSnow

    # By module path: the package attribute `fakesnow.server` is a function of the same name.
    fakesnow_server = importlib.import_module("fakesnow.server")

    directory = args.data_dir or data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # Every session shares one instance whose databases are files in `directory` (fakesnow's own
    # per-session db_path would attach the same file twice in one process).
    fakesnow_server.shared_fs = FakeSnow(db_path=directory)
    Transactions(float(os.environ.get("EVENTPIPE_EMULATOR_IDLE_ABORT_SECONDS", "300"))).install()
    uvicorn.Server(uvicorn.Config(fakesnow_server.app, host=args.host, port=args.port, log_level="warning")).run()
    return 0


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(directory: Path | None = None, log_path: Path | None = None) -> Iterator[Endpoint]:
    """Start the emulator as a child process for the duration of the block; stop it after."""
    endpoint = Endpoint("127.0.0.1", free_port())
    directory = directory or data_dir()
    log_path = log_path or settings.eventpipe_home() / "logs" / "snowflake-emulator.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "eventpipe.devtools.emulator",
        "--port",
        str(endpoint.port),
        "--data-dir",
        str(directory),
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        _wait_listening(endpoint, process, log_path)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(endpoint: Endpoint, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Snowflake emulator exited with {process.returncode}; see {log_path}")
        with contextlib.closing(socket.socket()) as sock:
            if sock.connect_ex((endpoint.host, endpoint.port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the Snowflake emulator did not listen on {endpoint.port} in {timeout:.0f}s; see {log_path}")


if __name__ == "__main__":
    sys.exit(serve())
