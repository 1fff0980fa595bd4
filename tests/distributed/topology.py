"""The production topology as native processes on this machine: Airflow's metadata in a fresh Postgres database,
CeleryExecutor on Redis, api-server, scheduler, dag-processor, triggerer and two Celery workers, on the Snowflake
path (the emulator, reached over HTTP). Every process runs in a process group of its own, so stopping (or
SIGKILLing) one stops everything it started; ``Topology.close`` stops them all and drops the database."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eventpipe import settings
from eventpipe.local import up
from eventpipe.orchestrate import airflow_env
from tests.e2e.support import api

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
WORKERS = ("worker-a", "worker-b")


def create_database() -> str:
    import psycopg2

    name = f"eventpipe_dist_{secrets.token_hex(4)}"
    conn = psycopg2.connect(dbname="postgres", **POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"create database {name}")
    conn.close()
    return name


def drop_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", **POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"drop database if exists {name} with (force)")
    conn.close()


def free_redis_db() -> int:
    """A Redis database number no one uses (empty), so this run's Celery queues are its own."""
    import redis

    for number in range(2, 16):
        if redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number).dbsize() == 0:
            return number
    raise RuntimeError("no empty Redis database among 2..15")


def flush_redis_db(number: int) -> None:
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number).flushdb()


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, _, value in pairs}


def _pids_with_env(key: str, value: str) -> list[int]:
    own = os.getpid()
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and int(entry.name) != own]
    return [pid for pid in pids if _environ(pid).get(key) == value]


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Topology:
    home: Path
    logs: Path
    env: dict[str, str]
    port: int
    database: str = ""
    redis_db: int = -1
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    run_token: str = field(default_factory=lambda: secrets.token_hex(6))

    def start(self, name: str, *args: str) -> subprocess.Popen:
        env = dict(self.env, EVENTPIPE_TEST_HOSTNAME=name, EVENTPIPE_TEST_RUN=self.run_token)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child's for its lifetime
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=settings.REPO_ROOT,
        )
        log.close()
        self.processes[name] = process
        return process

    def start_worker(self, name: str) -> subprocess.Popen:
        # No log server (it would listen on every interface): the task logs are files on this one machine.
        args = ("celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "4", "--skip-serve-logs")
        return self.start(name, *args)

    def kill(self, name: str) -> None:
        """SIGKILL a component and everything it started (its task processes too), as a lost host would."""
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait()
        self.kill_strays(name)
        del self.processes[name]

    def kill_strays(self, name: str | None = None) -> list[int]:
        """SIGKILL any process this run started (of component ``name``) that left its process group."""
        killed = []
        for pid in _pids_with_env("EVENTPIPE_TEST_RUN", self.run_token):
            if name is None or _environ(pid).get("EVENTPIPE_TEST_HOSTNAME") == name:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        return killed

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow processes exited: {dead}; logs in {self.logs}")

    def api(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        return api(self.base_url, self.token, path, body, method, timeout=60)

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str, every: float = 2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            value = predicate()
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; logs in {self.logs}")

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            stop_group(self.processes[name])
        self.kill_strays()
        if self.redis_db >= 0:
            flush_redis_db(self.redis_db)
        if self.database:
            drop_database(self.database)


def airflow_env_for(home: Path, database: str, redis_db: int, port: int, extra: dict[str, str]) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "SNOWFLAKE_"))}
    base["EVENTPIPE_HOME"] = str(home)
    env = airflow_env.airflow_environ(base | extra)  # the target (in extra) decides some of Airflow's defaults
    postgres = f"postgres@{POSTGRES['host']}:{POSTGRES['port']}/{database}"
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{postgres}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{postgres}",
            # As in docker-compose.yml: a worker imports what every task imports once, tasks fork from it.
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "eventpipe.orchestrate.celery_config.CELERY_CONFIG",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # Only the runs the test asks for (the backfill, its clears): no latest-interval run of its own.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # A SIGKILLed worker's task is seen as lost after this many seconds without a heartbeat.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.hostname.worker_hostname",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(settings.REPO_ROOT), os.environ.get("PYTHONPATH")])),
            # A lease a killed loader held expires quickly (it is renewed before each MERGE).
            "EVENTPIPE_MERGE_LEASE_SECONDS": "30",
            "EVENTPIPE_MAX_ACTIVE_RUNS": "3",
            "EVENTPIPE_MAX_ACTIVE_TASKS": "6",
        }
    )
    env.update(extra)
    return env


def start_topology(topology: Topology, paused: dict[str, bool] | None = None) -> None:
    """Migrate the database, start every component, wait until the API answers and the DAGs are registered.

    ``paused``: each DAG's pause state, set over REST before the scheduler starts (so no DAG's
    ``is_paused_upon_creation`` decides what runs); by default only ``event_pipeline``, unpaused."""
    paused = {"event_pipeline": False} if paused is None else paused
    executor = "import airflow.providers.celery.executors.celery_executor"
    check = subprocess.run([sys.executable, "-c", executor], env=topology.env, capture_output=True, text=True)
    if check.returncode:
        raise RuntimeError(f"the CeleryExecutor cannot be imported (celery vs its provider?):\n{check.stderr[-1500:]}")
    # The OpenLineage file transport does not create its folder (airflow_env.ensure_metadata_db does).
    airflow_env.openlineage_events_path(topology.home).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=topology.env,
        check=True,
        stdout=open(topology.logs / "db-migrate.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    api_server = topology.start("api-server", "api-server", "--port", str(topology.port))
    topology.start("dag-processor", "dag-processor")
    topology.start("triggerer", "triggerer", "--skip-serve-logs")
    for worker in WORKERS:
        topology.start_worker(worker)

    def answering():
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{topology.base_url}/api/v2/monitor/health", timeout=5),
        ):
            return True
        return False

    topology.wait_for(answering, 300, "the api-server")
    topology.token = up.access_token(topology.base_url, airflow_env.ADMIN_USER, up.admin_password())

    def registered(dag_id: str):
        def answer():
            with contextlib.suppress(urllib.error.HTTPError):  # 404 until the DAG processor has parsed it
                return topology.api(f"/dags/{dag_id}")
            return None

        return answer

    for dag_id in paused:
        dag = topology.wait_for(registered(dag_id), 300, f"the DAG processor to register {dag_id}")
        if dag_id == "event_pipeline":
            assert dag["max_active_runs"] == 3 and dag["max_active_tasks"] == 6, "concurrency comes from the target"
    for dag_id, state in paused.items():
        topology.api(f"/dags/{dag_id}", {"is_paused": state}, method="PATCH")
        assert topology.api(f"/dags/{dag_id}")["is_paused"] is state, dag_id
    # Only now the scheduler: no DAG ran in a state the test did not set.
    topology.start("scheduler", "scheduler")
    up.wait_healthy(topology.base_url, api_server, timeout=300)
