"""The embedded Airflow: its home under ``$EVENTPIPE_HOME/airflow`` and the settings it runs with.

Every command that starts Airflow (``eventpipe run``, ``eventpipe up``, the tests) takes its
environment from here, so the DAGs see the same configuration however they are started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eventpipe import settings

ADMIN_USER = "admin"
# OpenLineage's job namespace: every task and DAG run of this deployment (docs/production.md).
OPENLINEAGE_NAMESPACE = "eventpipe"


def openlineage_events_path(home: Path | None = None) -> Path:
    """Where the embedded Airflow's OpenLineage events go, one JSON object a line (the file transport)."""
    return (home or settings.eventpipe_home()) / "lineage" / "openlineage.jsonl"


def openlineage_environ(env: dict[str, str]) -> dict[str, str]:
    """OpenLineage settings: the job namespace and, unless one is configured, the local file transport.

    A transport already in ``env`` wins (``AIRFLOW__OPENLINEAGE__TRANSPORT``, ``AIRFLOW__OPENLINEAGE__CONFIG_PATH``,
    or ``OPENLINEAGE_URL`` and ``OPENLINEAGE_API_KEY`` for HTTP, as in production); so does
    ``AIRFLOW__OPENLINEAGE__DISABLED``.
    """
    out = {"AIRFLOW__OPENLINEAGE__NAMESPACE": OPENLINEAGE_NAMESPACE}
    configured = ("AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__CONFIG_PATH", "OPENLINEAGE_URL")
    if not any(env.get(key) for key in configured):
        events = openlineage_events_path(Path(env["EVENTPIPE_HOME"]))
        transport = {"type": "file", "log_file_path": str(events), "append": True}
        out["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
    return out


def airflow_environ(base: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment for the embedded Airflow, layered over ``base`` (default: ``os.environ``)."""
    env = dict(os.environ if base is None else base)
    # Airflow starts its own parts as ``airflow ...`` by name (``airflow standalone`` does): this interpreter's bin
    # folder comes first on their PATH, so a run as ``.venv/bin/eventpipe`` finds them without the venv on PATH.
    # (sys.executable, not resolved: a venv's python is a symlink to the base interpreter's.)
    bin_dir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        env["PATH"] = bin_dir + (os.pathsep + path if path else "")
    home = settings.airflow_home()
    env.setdefault("EVENTPIPE_HOME", str(settings.eventpipe_home()))
    env["AIRFLOW_HOME"] = str(home)
    defaults = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "False",
        # The laptop keeps Airflow's simple auth manager (one admin, any signed-in user sees the Activity Explorer);
        # docker-compose.yml runs the FAB one (users and roles in the metadata database).
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        # One local user for `eventpipe up`; its generated password is written under the Airflow home.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Cosmos: the dbt project is rendered from its manifest, never parsed while the DAG imports.
        "AIRFLOW__COSMOS__ENABLE_CACHE": "False",
        # Nothing phones home: no telemetry from Cosmos, dbt or Airflow.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "SCARF_ANALYTICS": "false",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "DBT_PROFILES_DIR": str(settings.dbt_project_dir()),
    }
    if env.get("EVENTPIPE_TARGET", "duckdb") == "duckdb":
        # The embedded DuckDB takes one writer process at a time, and Airflow's max_active_runs does not count a
        # backfill's runs (nor share_sync's beside event_pipeline): every task is in the default pool, made with
        # one slot here, so a scheduler (`eventpipe up`) never starts two at once. (Read when the database is
        # created; `make clean-home` starts a new one.)
        defaults["AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT"] = "1"
    for key, value in {**defaults, **openlineage_environ(env)}.items():
        env.setdefault(key, value)
    return env


def apply_airflow_environ() -> None:
    """Set the embedded Airflow's environment in this process (before importing airflow)."""
    os.environ.update(airflow_environ())


def ensure_metadata_db(env: dict[str, str] | None = None) -> None:
    """Create or migrate Airflow's metadata database (idempotent; a no-op when current), and the folder
    of the OpenLineage file transport (which does not create it)."""
    env = env or airflow_environ()
    settings.airflow_home().mkdir(parents=True, exist_ok=True)
    openlineage_events_path().parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
