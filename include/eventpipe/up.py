"""``eventpipe up``: the Airflow UI (``airflow standalone``) on the embedded default.

The same start-up serves the REST test that triggers ``event_pipeline`` as a user clicking
"Trigger" would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from eventpipe import airflow_env, settings
from eventpipe.runner import ensure_manifest

DEFAULT_PORT = 8080


def start_standalone(port: int = DEFAULT_PORT, log_path=None) -> subprocess.Popen:
    """Start scheduler, DAG processor, triggerer and API server in one process group."""
    env = airflow_env.airflow_environ()
    env["AIRFLOW__API__PORT"] = str(port)
    env["AIRFLOW__API__BASE_URL"] = f"http://localhost:{port}"
    settings.eventpipe_home().mkdir(parents=True, exist_ok=True)
    ensure_manifest()
    airflow_env.ensure_metadata_db(env)
    log_path = log_path or settings.airflow_home() / "standalone.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process for its lifetime
    # Through eventpipe.deliver.local: the local HEC / Heap / GA4 receivers the deliver task sends to run
    # beside Airflow, in the same process group, with their Connections in Airflow's environment.
    return subprocess.Popen(
        [sys.executable, "-m", "eventpipe.deliver.local", "--", sys.executable, "-m", "airflow", "standalone"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
    path = settings.airflow_home() / "simple_auth_manager_passwords.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
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


def serve(port: int = DEFAULT_PORT) -> int:
    process = start_standalone(port)
    base_url = f"http://localhost:{port}"
    try:
        wait_healthy(base_url, process)
        print(f"Airflow UI: {base_url}")
        print(f"login: {airflow_env.ADMIN_USER} / {admin_password()}")
        print(f"logs: {settings.airflow_home() / 'standalone.log'}   (Ctrl-C stops everything)")
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(process)
    return 0
