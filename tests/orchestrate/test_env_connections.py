"""Connections from one variable per field (eventpipe.orchestrate.env_connections) and the percent-encoded service
URLs (eventpipe.orchestrate.service_urls): what a value holds never changes what the other fields are."""

from __future__ import annotations

import json

from kombu import Connection as Broker
from sqlalchemy.engine import make_url

from eventpipe.orchestrate import service_urls
from eventpipe.orchestrate.env_connections import FieldEnvSecretsBackend, connection_fields

NASTY = 'a"b\\c@d:e/f%g%41 h\ni{"j": 1}'


def test_each_field_is_its_own_variable():
    env = {
        "EVENTPIPE_CONN_SNOWFLAKE_LOADER__CONN_TYPE": "snowflake",
        "EVENTPIPE_CONN_SNOWFLAKE_LOADER__LOGIN": "LOADER",
        "EVENTPIPE_CONN_SNOWFLAKE_LOADER__PASSWORD": NASTY,
        "EVENTPIPE_CONN_SNOWFLAKE_LOADER__EXTRA__ROLE": "EVENTPIPE_LOADER",
        "EVENTPIPE_CONN_SNOWFLAKE_LOADER__EXTRA__WAREHOUSE": "",  # compose's ${UNSET}: not a field
        "EVENTPIPE_CONN_SNOWFLAKE__CONN_TYPE": "snowflake",  # another id, a prefix of this one's
        "EVENTPIPE_CONN_SNOWFLAKE__PASSWORD": "other",
    }
    assert connection_fields("snowflake_loader", env) == {
        "conn_type": "snowflake",
        "login": "LOADER",
        "password": NASTY,
        "extra": {"role": "EVENTPIPE_LOADER"},
    }
    assert connection_fields("snowflake", env) == {"conn_type": "snowflake", "password": "other"}


def test_no_conn_type_no_connection_and_the_port_is_a_number():
    env = {"EVENTPIPE_CONN_HEC__PASSWORD": "token", "EVENTPIPE_CONN_HEC__PORT": "8088"}
    assert connection_fields("hec", env) is None
    assert connection_fields("hec", env | {"EVENTPIPE_CONN_HEC__CONN_TYPE": "http"})["port"] == 8088
    assert connection_fields("a__b", {"EVENTPIPE_CONN_A__B__CONN_TYPE": "http"}) is None


def test_the_backend_serializes_what_airflow_deserializes(monkeypatch):
    monkeypatch.setenv("EVENTPIPE_CONN_S3_X__CONN_TYPE", "aws")
    monkeypatch.setenv("EVENTPIPE_CONN_S3_X__PASSWORD", NASTY)
    backend = FieldEnvSecretsBackend()
    assert json.loads(backend.get_conn_value("s3_x")) == {"conn_type": "aws", "password": NASTY}
    assert backend.get_conn_value("absent") is None


def test_service_urls_round_trip_any_password():
    env = {"POSTGRES_USER": "air@flow", "POSTGRES_PASSWORD": NASTY, "POSTGRES_DB": "airflow", "REDIS_PASSWORD": NASTY}
    url = make_url(service_urls.database_url(env))
    assert (url.username, url.password, url.host, url.database) == ("air@flow", NASTY, "postgres", "airflow")
    broker = Broker(service_urls.broker_url(env))
    assert (broker.password, broker.hostname, broker.port) == (NASTY, "redis", 6379)


def test_service_urls_name_a_missing_variable(capsys):
    assert service_urls.main(["broker"]) == 1
    assert "REDIS_PASSWORD" in capsys.readouterr().err
    assert service_urls.main(["nothing"]) == 2
