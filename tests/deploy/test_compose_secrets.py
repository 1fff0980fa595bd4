"""Secrets through docker-compose.yml, any character: the Compose parser resolves the file with passwords holding
``"``, ``\\``, ``@``, ``:``, ``/``, ``%``, a space and a newline, and Airflow, run in a subprocess with exactly the
environment a worker container gets, finds each byte for byte in its Connections, its metadata database URL, its
Celery result backend and its broker URL. Also: every image is pinned, and nothing starts without an admin password.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from .compose_support import COMPOSE_FILE, ROOT, SNOWFLAKE_JOBS, compose_binary, run_parser

NASTY = 'p"\\@:/%25% x\nq'
# The subprocess' oracle: Airflow's own lookups, as a hook and the scheduler make them.
READ_BACK = """
import json, sys
from airflow.configuration import conf
from airflow.sdk import BaseHook
from kombu import Connection as Broker
from sqlalchemy.engine import make_url

found = {conn_id: BaseHook.get_connection(conn_id).password for conn_id in json.loads(sys.argv[1])}
found["database"] = make_url(conf.get("database", "sql_alchemy_conn")).password
found["result-backend"] = make_url(conf.get("celery", "result_backend").removeprefix("db+")).password
found["broker"] = Broker(conf.get("celery", "broker_url")).password
print(json.dumps(found))
"""
# name:tag (a version with a dot, no "latest"), optionally @sha256:...
PINNED = re.compile(r"[\w./-]+:(?!latest\b)[\w.-]*\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?")


def resolved(env_file: Path, overrides: dict[str, str]) -> dict:
    """docker compose config with ``overrides`` in the shell environment (which wins over .env, as in compose)."""
    command = [compose_binary(), "--project-directory", ROOT, "-f", COMPOSE_FILE, "--env-file", env_file]
    result = subprocess.run(
        [*command, "--profile", "splunk", "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=os.environ | overrides,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_a_password_with_any_character_reaches_airflow_byte_exact(env_file, tmp_path):
    secrets = {f"SNOWFLAKE_{job.upper()}_PASSWORD": f"{job}-{NASTY}" for job in SNOWFLAKE_JOBS}
    secrets |= {"POSTGRES_PASSWORD": f"pg-{NASTY}", "REDIS_PASSWORD": f"redis-{NASTY}"}
    secrets |= {"AWS_SECRET_ACCESS_KEY": f"aws-{NASTY}", "SPLUNK_HEC_TOKEN": f"hec-{NASTY}"}
    container = resolved(env_file, secrets)["services"]["airflow-worker"]["environment"]
    # The worker's environment and nothing else of this shell's, but for where python and airflow live.
    env = container | {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path)}
    conn_ids = [f"snowflake_{job}" for job in SNOWFLAKE_JOBS] + ["eventpipe_s3", "eventpipe_hec"]
    result = subprocess.run(
        [sys.executable, "-c", READ_BACK, json.dumps(conn_ids)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {f"snowflake_{job}": secrets[f"SNOWFLAKE_{job.upper()}_PASSWORD"] for job in SNOWFLAKE_JOBS}
    expected |= {"eventpipe_s3": secrets["AWS_SECRET_ACCESS_KEY"], "eventpipe_hec": secrets["SPLUNK_HEC_TOKEN"]}
    expected |= {"database": secrets["POSTGRES_PASSWORD"], "result-backend": secrets["POSTGRES_PASSWORD"]}
    expected |= {"broker": secrets["REDIS_PASSWORD"]}
    assert found == expected
    assert NASTY not in result.stderr, "a secret in Airflow's log output"


def test_every_image_is_pinned_to_a_version(env_file):
    images = {name: spec["image"] for name, spec in resolved(env_file, {})["services"].items()}
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    assert all("image" in spec for spec in raw.values()), "a service without an image: untagged"
    for name, image in images.items():
        assert PINNED.fullmatch(image), f"{name}: {image} is not pinned to a version"
    assert "minio" not in json.dumps(images), "MinIO's repository is archived: its images may vanish"
    dockerfile = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.MULTILINE))
    for line in re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE):
        image = re.sub(r"\$\{(\w+)\}", lambda match: args[match.group(1)], line)
        assert PINNED.fullmatch(image), f"Dockerfile: FROM {image} is not pinned to a version"


def test_the_pin_check_catches_latest_and_untagged():
    for image in ("redis:latest", "redis", "postgres:16", "chrislusf/seaweedfs:latest", "minio/mc"):
        assert not PINNED.fullmatch(image), image
    for image in ("postgres:16.6-bookworm", "ghcr.io/astral-sh/uv:0.13.10", "apache/airflow:3.3.2-python3.11"):
        assert PINNED.fullmatch(image), image


def test_no_admin_password_no_stack(tmp_path, filled_env):
    """The admin user is created from .env, never with a default password: without one compose refuses, naming it."""
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in filled_env.items() if k != "AIRFLOW_ADMIN_PASSWORD"))
    result = run_parser(env_file, "config", "--quiet")
    assert result.returncode != 0
    assert "AIRFLOW_ADMIN_PASSWORD" in result.stderr and "set AIRFLOW_ADMIN_PASSWORD in .env" in result.stderr


def test_the_admin_and_the_explorer_permission_come_from_airflow_init(config, filled_env):
    init = config["services"]["airflow-init"]
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_USERNAME"] == filled_env["AIRFLOW_ADMIN_USER"]
    assert init["environment"]["_AIRFLOW_WWW_USER_PASSWORD"] == filled_env["AIRFLOW_ADMIN_PASSWORD"]
    script = init["command"][-1]
    assert "exec /entrypoint python -m eventpipe.orchestrate.explorer_access grant Admin" in script
    assert filled_env["AIRFLOW_ADMIN_PASSWORD"] not in script, "the password on a command line"
    redis = config["services"]["redis"]
    assert redis["environment"]["REDIS_PASSWORD"] == filled_env["REDIS_PASSWORD"]
    assert '--requirepass "$$REDIS_PASSWORD"' in " ".join(redis["command"])


def test_a_single_quoted_value_in_env_keeps_every_character(tmp_path, filled_env):
    """What docs/production.md tells an operator: in .env, a value with quotes, spaces or a newline in single quotes."""
    env_file = tmp_path / ".env"
    values = filled_env | {"SNOWFLAKE_LOADER_PASSWORD": NASTY}
    env_file.write_text("".join(f"{name}='{value}'\n" for name, value in values.items()))
    environment = resolved(env_file, {})["services"]["airflow-worker"]["environment"]
    assert environment["EVENTPIPE_CONN_SNOWFLAKE_LOADER__PASSWORD"] == NASTY
