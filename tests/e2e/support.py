"""What the end-to-end tests share: ``eventpipe`` as a user runs it, and reading what a run left."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb


def eventpipe(home: Path, *args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """``eventpipe ARGS`` in a child process, with ``home`` as EVENTPIPE_HOME and its default landing zone."""
    environ = dict(os.environ, EVENTPIPE_HOME=str(home), **(env or {}))
    environ.pop("EVENTPIPE_LANDING", None)
    return subprocess.run(
        [sys.executable, "-m", "eventpipe.cli", *args], env=environ, capture_output=True, text=True, timeout=timeout
    )


def query(home: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def ndjson(paths) -> list[dict]:
    return [json.loads(line) for path in sorted(paths) for line in Path(path).read_text().splitlines() if line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server_url() -> Iterator[str]:
    """moto's S3 (and SQS) server on a free loopback port, for the block: its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def assert_caught_up(home: Path, lines: int) -> None:
    """Every landed line accounted for (loaded, duplicate or quarantined), each App Event once at Splunk and in S3,
    and in the marts."""
    (loaded, duplicates, quarantined), = query(home, "select sum(loaded), sum(duplicates), sum(quarantined)"
                                                     " from ops.loaded_file")  # fmt: skip
    assert loaded + duplicates + quarantined == lines
    sessions = {row[0] for row in query(home, "select event_id from raw.session_event")}
    splunk: Counter = Counter()
    for path in (home / "received" / "splunk").glob("*.ndjson"):
        splunk.update(json.loads(line)["fields"]["event_id"] for line in path.read_text().splitlines() if line)
    assert set(splunk) == sessions and max(splunk.values()) == 1
    s3: Counter = Counter()
    for path in (home / "s3").glob("*/**/Session/dt=*/hour=*/*.json.gz"):
        s3.update(json.loads(line)["eventId"] for line in gzip.decompress(path.read_bytes()).splitlines())
    assert set(s3) == sessions and max(s3.values()) == 1
    assert query(home, "select count(*) from marts.fct_session_events")[0][0] == len(sessions)


def api(base_url, token, path, body=None, method=None, timeout=30):
    """One Airflow REST API v2 call as JSON; an HTTP error carries the API's own words."""
    request = urllib.request.Request(
        f"{base_url}/api/v2{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method or ("POST" if body is not None else "GET"),
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        error.msg = f"{error.msg}: {error.read().decode(errors='replace')[:2000]}"  # the API's own words
        raise


def trigger(base_url, token, logical_date):
    """POST a DAG run as the UI's Trigger button does; on a 5xx, try again as a user would.

    Airflow on SQLite (the embedded default) answered this POST with a 500 once in about four runs
    here while the scheduler and DAG processor were writing. A retry that finds the first attempt did
    create the run gets 409 and picks that run up, so no second run is made.
    """
    for attempt in range(5):
        try:
            return api(base_url, token, "/dags/event_pipeline/dagRuns", {"logical_date": logical_date})
        except urllib.error.HTTPError as error:
            if error.code == 409:
                runs = api(base_url, token, "/dags/event_pipeline/dagRuns?limit=100")["dag_runs"]
                return next(r for r in runs if r["logical_date"].startswith(logical_date.removesuffix("Z")))
            if error.code < 500 or attempt == 4:
                raise
            time.sleep(3)
    raise AssertionError("unreachable")


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def run_seconds(run: dict) -> float:
    """A DAG run's own duration as the API reports it (start to end; queued time excluded)."""
    started = datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(run["end_date"].replace("Z", "+00:00"))
    return (ended - started).total_seconds()


class Standalone:
    """A running ``airflow standalone`` (what ``eventpipe up`` starts) on a free port, driven over REST as the UI is."""

    def __init__(self, log_path: Path, dag_id: str = "event_pipeline"):
        from eventpipe.local import up

        self.dag_id = dag_id
        self.base_url = f"http://localhost:{free_port()}"
        self.process = up.start_standalone(int(self.base_url.rsplit(":", 1)[1]), log_path=log_path)
        try:
            up.wait_healthy(self.base_url, self.process)
            self.token = up.access_token(self.base_url, "admin", up.admin_password())
            wait_for(self._dag_visible, 180, f"the DAG processor to register {dag_id}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        from eventpipe.local import up

        up.stop(self.process)

    def __enter__(self) -> Standalone:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def api(self, path: str, body=None, method=None):
        return api(self.base_url, self.token, path, body, method)

    def _dag_visible(self):
        try:
            return self.api(f"/dags/{self.dag_id}")
        except urllib.error.HTTPError:
            return None

    def trigger(self, logical_date: str) -> str:
        return trigger(self.base_url, self.token, logical_date)["dag_run_id"]

    def run(self, run_id: str) -> dict:
        return self.api(f"/dags/{self.dag_id}/dagRuns/{run_id}")

    def wait_finished(self, run_id: str, timeout: float = 900) -> dict:
        def finished():
            run = self.run(run_id)
            return run if run["state"] in ("success", "failed") and run["end_date"] else None

        return wait_for(finished, timeout, f"run {run_id} to finish")

    def wait_idle(self, timeout: float = 900) -> None:
        """The scheduler starts the latest scheduled hour too (catchup off): wait until no run is active."""

        def idle():
            runs = self.api(f"/dags/{self.dag_id}/dagRuns?limit=100")["dag_runs"]
            return all(run["state"] in ("success", "failed") for run in runs)

        wait_for(idle, timeout, f"every run of {self.dag_id} to finish")

    def clear(self, run_id: str, task_ids: list[str], downstream: bool) -> list[str]:
        """What the UI's Clear dialog sends (Past, Future and Upstream unticked); the cleared task ids."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "include_downstream": downstream,
            "include_upstream": False,
            "only_failed": False,
            "reset_dag_runs": True,
        }
        cleared = self.api(f"/dags/{self.dag_id}/clearTaskInstances", body)
        return sorted(ti["task_id"] for ti in cleared["task_instances"])

    def clear_and_wait(self, run_id: str, task_ids: list[str], downstream: bool) -> tuple[list[str], dict]:
        """Clear, then wait until the run, back in the queue, has finished again."""
        cleared = self.clear(run_id, task_ids, downstream)
        wait_for(lambda: self.run(run_id)["state"] not in ("success", "failed"), 30, "the cleared run to restart")
        return cleared, self.wait_finished(run_id)

    def task_instances(self, run_id: str) -> dict[str, dict]:
        listed = self.api(f"/dags/{self.dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]
        return {ti["task_id"]: ti for ti in listed}

    def xcom(self, run_id: str, task_id: str, key: str):
        path = f"/dags/{self.dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}?deserialize=true"
        return self.api(path)["value"]

    def log(self, run_id: str, task_id: str, try_number: int) -> str:
        """A task try's log as the UI shows it, one JSON line per event."""
        run, task = (urllib.parse.quote(part, safe="") for part in (run_id, task_id))  # a backfill's id has "+"
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/dags/{self.dag_id}/dagRuns/{run}/taskInstances/{task}/logs/"
            f"{try_number}?full_content=true",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            content = json.load(response)["content"]
        # each line whole (an exception's or a skip's reason is a field of its own, not in "event")
        return "\n".join(json.dumps(part) if isinstance(part, dict) else str(part) for part in content)
