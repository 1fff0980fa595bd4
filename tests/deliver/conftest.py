"""A small loaded warehouse (generated events, loaded by the real loader; no dbt) for the delivery tests, and a
moto S3 server with a bucket and an ``aws`` Connection to it."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import duckdb
import pytest

from eventpipe import warehouse
from eventpipe.deliver.config import parse_destinations
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest.load import load_interval

START = datetime(2026, 11, 27, 6)
HOURS = (START, START.replace(hour=7))


@pytest.fixture(scope="session")
def loaded_warehouse(tmp_path_factory):
    """Two arrival hours of 2 organizations, loaded; each test copies the file so the tests stay independent."""
    root = tmp_path_factory.mktemp("deliver_source")
    landing = root / "landing"
    generate(landing=str(landing), start=START, hours=2, orgs=2, sessions_per_hour=5, seed=3, files_per_hour=2)
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


def interval_ids(con: duckdb.DuckDBPyConnection, table: str, interval_start: datetime, where: str = "true") -> set:
    rows = con.execute(
        f"SELECT e.event_id FROM raw.{table} e JOIN ops.loaded_file f ON e._source_file = f.source_file"
        f" WHERE f.interval_start = ? AND {where}",
        [interval_start],
    ).fetchall()
    return {row[0] for row in rows}


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
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


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
