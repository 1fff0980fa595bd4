"""A small loaded warehouse (generated events, loaded by the real loader; no dbt) for the delivery tests, and a
moto S3 server with a bucket and an ``aws`` Connection to it.

The arrival hours are recent (the hour before last and the one before it, by the clock when the tests start): GA4
takes events up to 72 hours old (``too_old_for_destination``), so every destination receives these. The generator
writes no late events here: its offline sessions are dated up to three days before the first hour, which would put
some of them on either side of GA4's window depending on the time of day; tests of the window age events
themselves (``tests/deliver/test_event_age.py``).
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta

import duckdb
import pytest

from eventpipe import warehouse
from eventpipe.deliver.config import parse_destinations
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest.load import load_interval
from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import moto_server_url

START = hour_floor(utc_now()) - timedelta(hours=3)
HOURS = (START, START + timedelta(hours=1))
END = START + timedelta(hours=2)  # the end of HOURS (excluded), before the current hour


@pytest.fixture(scope="session")
def loaded_warehouse(tmp_path_factory):
    """Two arrival hours of 2 organizations, loaded; each test copies the file so the tests stay independent."""
    root = tmp_path_factory.mktemp("deliver_source")
    landing = root / "landing"
    generate(
        landing=str(landing), start=START, hours=2, orgs=2, sessions_per_hour=5, seed=3, files_per_hour=2,
        late_fraction=0,
    )  # fmt: skip
    path = root / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        for hour in HOURS:
            load_interval(con, str(landing), hour, run_id="fixture")
        con.execute("checkpoint")
    return path


@pytest.fixture
def con(loaded_warehouse, eventpipe_home):
    path = eventpipe_home / "warehouse.duckdb"
    path.write_bytes(loaded_warehouse.read_bytes())
    connection = warehouse.connect(path)
    yield connection
    connection.close()


@pytest.fixture
def target(con):
    """``con`` as the ``Warehouse`` the deliveries take."""
    return warehouse.as_warehouse(con)


def interval_ids(con: duckdb.DuckDBPyConnection, table: str, interval_start: datetime, where: str = "true") -> set:
    rows = con.execute(
        f"SELECT e.event_id FROM raw.{table} e JOIN ops.loaded_file f ON e._source_file = f.source_file"
        f" WHERE f.interval_start = ? AND {where}",
        [interval_start],
    ).fetchall()
    return {row[0] for row in rows}


def loaded_ids(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> set:
    """The event ids of both arrival hours (``interval_ids`` of each)."""
    return set().union(*(interval_ids(con, table, hour, where) for hour in HOURS))


def partition(hour: datetime) -> str:
    """An arrival hour's folder in an S3 key, and its name's hour stamp: ``dt=YYYY-MM-DD/hour=HH``."""
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}"


def destinations(**entries) -> list:
    return parse_destinations({"destinations": entries})


def http_conn(url: str, password: str | None = None) -> str:
    host, port = url.removeprefix("http://").split(":")
    conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
    if password:
        conn["password"] = password
    return json.dumps(conn)


BUCKET = "customer-events"
KMS_KEY = "alias/customer-events"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_server():
    with moto_server_url() as url:
        yield url


@pytest.fixture
def s3(moto_server, monkeypatch):
    """A fresh bucket on the moto server, an ``aws`` Connection to it, and a plain boto3 client to look inside."""
    import boto3

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    extra = {"endpoint_url": moto_server, "region_name": "us-east-1"}
    connection = {"conn_type": "aws", "login": "testing", "password": "testing-secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_AWS", json.dumps(connection))
    client = boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) if _exists(client) else []:
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    if not _exists(client):
        client.create_bucket(Bucket=BUCKET)
    return client


def _exists(client) -> bool:
    return any(b["Name"] == BUCKET for b in client.list_buckets()["Buckets"])


def objects(client) -> dict[str, dict]:
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj
    return found
