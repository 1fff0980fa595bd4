"""``eventpipe up``: the Airflow UI (``airflow standalone``) on the embedded default.

The same start-up serves the REST test that triggers ``event_pipeline`` as a user clicking
"Trigger" would.

- The API server binds ``127.0.0.1`` unless told otherwise (``eventpipe up --host``); Airflow's default is every
  interface.
- Airflow's files are owner-only: the process tree runs with umask 077, the log (where ``airflow standalone`` prints
  the admin password) is created 0600, and a password file left by an earlier run is made 0600 before the start.
- Airflow is found without ``PATH`` (``airflow_env`` puts this interpreter's bin folder first on the children's
  ``PATH``, so ``airflow standalone`` finds ``airflow`` for its scheduler, API server and the rest, and the tree is
  started as ``python -m``).
- SIGTERM (and SIGHUP) stop the whole tree as Ctrl-C does: Airflow and the local receivers run in a session of
  their own, so ``stop`` signals that process group and then any descendant that left it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from eventpipe import settings
from eventpipe.local.runner import ensure_manifest
from eventpipe.orchestrate import airflow_env

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
PRIVATE = 0o600
UMASK = 0o077


def standalone_command() -> list[str]:
    """The process tree: the local receivers' wrapper running ``airflow standalone``, both as ``python -m``.

    Through eventpipe.devtools.receivers.local: the local HEC / Heap / GA4 receivers the deliver task sends to run
    beside Airflow, in the same process group, with their Connections in Airflow's environment.
    """
    return [
        sys.executable,
        "-m",
        "eventpipe.devtools.receivers.local",
        "--",
        sys.executable,
        "-m",
        "airflow",
        "standalone",
    ]


def standalone_environ(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> dict[str, str]:
    env = airflow_env.airflow_environ()
    env["AIRFLOW__API__HOST"] = host
    env["AIRFLOW__API__PORT"] = str(port)
    env["AIRFLOW__API__BASE_URL"] = f"http://{_url_host(host)}:{port}"
    return env


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def open_private(path: Path | str) -> BinaryIO:
    """Open ``path`` for appending, owner-only (0600), whatever mode an earlier run left it with."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
    os.fchmod(fd, PRIVATE)
    return os.fdopen(fd, "ab")


def password_file() -> Path:
    return settings.airflow_home() / "simple_auth_manager_passwords.json"


def start_standalone(port: int = DEFAULT_PORT, log_path=None, host: str = DEFAULT_HOST) -> subprocess.Popen:
    """Start scheduler, DAG processor, triggerer and API server (and the local receivers) in one new session."""
    env = standalone_environ(port, host)
    settings.eventpipe_home().mkdir(parents=True, exist_ok=True)
    ensure_manifest()
    airflow_env.ensure_metadata_db(env)
    if password_file().exists():
        password_file().chmod(PRIVATE)
    log_path = log_path or settings.airflow_home() / "standalone.log"
    log = open_private(log_path)
    try:
        return subprocess.Popen(
            standalone_command(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=UMASK,
        )
    finally:
        log.close()  # the child has its own copy


def descendants(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.Error):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop the whole tree: SIGTERM to its process group and to every descendant (one that left the group too),
    then SIGKILL to what is left after ``timeout`` seconds."""
    import psutil

    tree = descendants(process.pid)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    _signal_all(tree, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    processes = []
    for pid in tree:
        with contextlib.suppress(psutil.Error):
            processes.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(processes, timeout=max(1.0, timeout / 3))
    for leftover in alive:
        with contextlib.suppress(psutil.Error):
            leftover.kill()


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class Stopped(Exception):
    """``eventpipe up`` was asked to stop by a signal (SIGTERM, SIGHUP)."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``Stopped`` (Ctrl-C is already ``KeyboardInterrupt``), so the caller's cleanup
    runs however it is stopped; the previous handlers come back on exit."""

    def raise_stopped(signum: int, _frame: object) -> None:
        raise Stopped(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, raise_stopped) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """While the tree is being stopped, a second Ctrl-C or SIGTERM must not cut the cleanup short."""
    signums = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_healthy(base_url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    """Wait until the API server answers and the scheduler reports healthy."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as response:
                health = json.load(response)
            if health.get("scheduler", {}).get("status") == "healthy":
                return
            last_error = json.dumps(health)
        except OSError as error:
            last_error = str(error)
        time.sleep(2)
    raise TimeoutError(f"Airflow at {base_url} not healthy after {timeout}s: {last_error}")


def admin_password(timeout: float = 60) -> str:
    """The generated password of the local admin user (written by the simple auth manager at start-up)."""
    path = password_file()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            path.chmod(PRIVATE)
            return json.loads(path.read_text())[airflow_env.ADMIN_USER]
        time.sleep(1)
    raise TimeoutError(f"{path} was not written")


def access_token(base_url: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def serve(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> int:
    with stop_on_signals():
        process = start_standalone(port, host=host)
        base_url = f"http://{_url_host(host)}:{port}"
        try:
            wait_healthy(base_url, process)
            print(f"Airflow UI: {base_url}")
            print(f"login: {airflow_env.ADMIN_USER} / {admin_password()}")
            print(f"logs: {settings.airflow_home() / 'standalone.log'}   (Ctrl-C or SIGTERM stops everything)")
            process.wait()
        except (KeyboardInterrupt, Stopped):
            pass
        finally:
            with signals_ignored():
                stop(process)
    return 0
