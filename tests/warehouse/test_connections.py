"""Which identity each job connects as: its own Airflow Connection, else snowflake_default, else SNOWFLAKE_*
variables (eventpipe.warehouse.connections), logged once per job by the source's name, never a secret."""

from __future__ import annotations

import json
import logging
import os

import pytest

from eventpipe.devtools import emulator
from eventpipe.warehouse import connections
from eventpipe.warehouse.connections import JOBS, LOADER, READER, SHARE, TRANSFORMER

SECRET = "s3cret-never-logged"


def connection_json(login: str, **extra) -> str:
    return json.dumps({"conn_type": "snowflake", "login": login, "password": SECRET, "extra": extra})


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for conn_id in ("snowflake_default", *(f"snowflake_{job}" for job in JOBS)):
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
    monkeypatch.delenv("EVENTPIPE_SNOWFLAKE_CONN_ID", raising=False)
    monkeypatch.setattr(connections, "_logged", set())


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    """What the module logs (Airflow's structlog set-up may route records away from caplog)."""
    handler, logger = Recorded(), logging.getLogger(connections.__name__)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def set_env_credentials(monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "env-account")
    monkeypatch.setenv("SNOWFLAKE_USER", "env-user")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", SECRET)


def test_each_job_has_its_own_connection_id():
    assert [connections.job_conn_id(job) for job in JOBS] == [
        "snowflake_loader",
        "snowflake_transformer",
        "snowflake_share",
        "snowflake_reader",
        "snowflake_admin",
    ]
    with pytest.raises(ValueError, match="unknown Snowflake job"):
        connections.job_conn_id("superuser")


def test_the_jobs_connection_wins_over_default_and_variables(monkeypatch, logged):
    set_env_credentials(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", connection_json("everyone"))
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_READER", connection_json("reader"))
    assert connections.resolve_source(READER) == "snowflake_reader"
    assert connections.resolve_source(LOADER) == "snowflake_default"
    assert connections.resolve_source(READER) == "snowflake_reader"  # logged once, not twice
    assert logged == [
        "Snowflake reader: credentials from the Airflow Connection snowflake_reader",
        "Snowflake loader: Airflow Connection snowflake_loader is not defined; falling back to the Connection "
        "snowflake_default",
    ]
    assert not [message for message in logged if SECRET in message]


def test_variables_only_without_any_connection(monkeypatch, logged):
    with pytest.raises(connections.SnowflakeCredentialsError) as raised:
        connections.resolve_source(SHARE)
    assert "snowflake_share" in str(raised.value) and "SNOWFLAKE_ACCOUNT" in str(raised.value)
    set_env_credentials(monkeypatch)
    assert connections.resolve_source(SHARE) == "SNOWFLAKE_*"
    assert logged == ["Snowflake share: credentials from the SNOWFLAKE_* variables (no Airflow Connection defined)"]
    assert not [message for message in logged if SECRET in message]


def test_eventpipe_snowflake_conn_id_names_the_shared_connection(monkeypatch):
    monkeypatch.setenv("EVENTPIPE_SNOWFLAKE_CONN_ID", "warehouse_main")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_MAIN", connection_json("main"))
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", connection_json("everyone"))
    assert connections.resolve_source(TRANSFORMER) == "warehouse_main"


@pytest.mark.emulator
def test_a_job_connects_through_its_connection_not_the_variables(monkeypatch, tmp_path):
    """On the emulator: the reader's Connection (with the emulator's endpoint extras) is what connects, although
    SNOWFLAKE_* variables naming an unreachable account are set."""
    set_env_credentials(monkeypatch)
    with emulator.running(directory=tmp_path / "sf", log_path=tmp_path / "emulator.log") as endpoint:
        extra = {"account": "fakesnow", "host": endpoint.host, "port": endpoint.port, "protocol": "http"}
        monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_READER", connection_json("reader", **extra))
        conn = connections.connect_snowflake(READER, query_tag="test")
        try:
            assert conn.cursor().execute("select 41 + 1").fetchone() == (42,)
            assert (conn.host, conn.port) == (endpoint.host, endpoint.port)
        finally:
            conn.close()


def test_dbt_signs_in_as_the_transformer(monkeypatch):
    """dbt's snowflake target reads SNOWFLAKE_* variables: the dbt tasks set them from the transformer's Connection
    (eventpipe.orchestrate.dbt_config.use_transformer_identity), over any set for another identity."""
    from eventpipe.orchestrate import dbt_config

    set_env_credentials(monkeypatch)
    transformer = {
        "conn_type": "snowflake",
        "login": "dbt_user",
        "password": SECRET,
        "extra": {"account": "acme-prod", "role": "EVENTPIPE_TRANSFORMER", "warehouse": "EVENTPIPE"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_TRANSFORMER", json.dumps(transformer))
    monkeypatch.setenv("EVENTPIPE_DBT_TARGET", "duckdb")
    dbt_config.use_transformer_identity({})
    assert os.environ["SNOWFLAKE_USER"] == "env-user"  # another target: nothing changes
    monkeypatch.setenv("EVENTPIPE_DBT_TARGET", "snowflake")
    for name in connections.DBT_VARIABLES:
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    dbt_config.use_transformer_identity({})
    assert {name: os.environ[name] for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_ROLE")} == {
        "SNOWFLAKE_ACCOUNT": "acme-prod",
        "SNOWFLAKE_USER": "dbt_user",
        "SNOWFLAKE_ROLE": "EVENTPIPE_TRANSFORMER",
    }
    assert os.environ["SNOWFLAKE_PASSWORD"] == SECRET and os.environ["SNOWFLAKE_WAREHOUSE"] == "EVENTPIPE"


def test_dbt_keeps_the_variables_without_a_connection(monkeypatch):
    set_env_credentials(monkeypatch)
    assert connections.dbt_environ(TRANSFORMER) == {}
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps({"conn_type": "snowflake", "login": "x"}))
    with pytest.raises(connections.SnowflakeCredentialsError, match="has no password") as raised:
        connections.dbt_environ(TRANSFORMER)
    assert SECRET not in str(raised.value)
