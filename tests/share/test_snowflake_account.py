"""Opt-in: the share planned and applied on a REAL Snowflake account (skipped, and reported as skipped,
without credentials). Nothing here is simulated; the suite never runs it by itself.

Needs SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY), SNOWFLAKE_WAREHOUSE,
and SNOWFLAKE_ROLE with CREATE DATABASE and CREATE SHARE (e.g. ACCOUNTADMIN). Optional:
SNOWFLAKE_SHARE_TEST_CONSUMERS="ACCOUNT1:org1,org2;ACCOUNT2:org3" names real consumer accounts (in
the same region) to add to the share and to impersonate with SIMULATED_DATA_SHARING_CONSUMER;
without it the share has no accounts and the isolation test is skipped.

Everything is created in a throw-away database and share (EVENTPIPE_SHARE_TEST_<random>) that are
dropped at the end: the marts the views read are empty tables with the columns and types of the
local dbt marts (tests/conftest.py: marts_warehouse), plus a few audit rows for the isolation test.

    uv run --frozen pytest -m snowflake -ra
"""

from __future__ import annotations

import os
import secrets

import duckdb
import pytest

from eventpipe.share import VIEWS, parse_config
from eventpipe.share.sync import apply_share, plan_share
from eventpipe.warehouse.connections import credentials_in_env

pytestmark = [
    pytest.mark.snowflake,
    pytest.mark.skipif(
        not credentials_in_env(),
        reason="needs a real Snowflake account: set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD"
        " (or SNOWFLAKE_PRIVATE_KEY), SNOWFLAKE_WAREHOUSE and a SNOWFLAKE_ROLE that can create databases and shares",
    ),
]

# DuckDB types of the local marts -> Snowflake types.
TYPES = {"BIGINT": "NUMBER", "INTEGER": "NUMBER", "DOUBLE": "FLOAT", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
         "JSON": "VARIANT", "TIMESTAMP": "TIMESTAMP_NTZ", "VARCHAR": "VARCHAR"}  # fmt: skip


def consumers_from_env() -> list[dict]:
    spec = os.environ.get("SNOWFLAKE_SHARE_TEST_CONSUMERS", "").strip()
    consumers = []
    for index, entry in enumerate(part for part in spec.split(";") if part.strip()):
        account, orgs = entry.split(":", 1)
        # the first consumer sees PII, the others do not: both sides of the masking get checked
        consumers.append({"account": account.strip(), "organizations": orgs.split(","), "pii": index == 0})
    return consumers


@pytest.fixture(scope="module")
def account(marts_warehouse):
    from eventpipe.share.sync import connect_snowflake

    name = f"EVENTPIPE_SHARE_TEST_{secrets.token_hex(4).upper()}"
    config = parse_config({
        "share": {"name": name, "database": name, "source_database": name, "source_schema": "MARTS"},
        "consumers": consumers_from_env(),
    })  # fmt: skip
    connection = connect_snowflake()
    cursor = connection.cursor()
    try:
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.execute(f"CREATE SCHEMA {name}.MARTS")
        with duckdb.connect(str(marts_warehouse), read_only=True) as local:
            for mart in sorted({view.mart for view in VIEWS}):
                columns = local.execute(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position",
                    [mart],
                ).fetchall()
                cursor.execute(f"CREATE TABLE {name}.MARTS.{mart} ({', '.join(f'{c} {TYPES[t]}' for c, t in columns)})")
        yield config, cursor
    finally:
        cursor.execute(f"DROP SHARE IF EXISTS {name}")
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.close()
        connection.close()


def test_plan_apply_and_replan_is_empty_on_a_real_account(account):
    config, cursor = account
    planned = plan_share(config, "snowflake", cursor=cursor).statements
    assert planned and any(s.startswith("CREATE SHARE") for s in planned)
    applied = apply_share(config, None, "snowflake", cursor=cursor)  # raises unless the re-plan is empty
    assert applied.ran == planned and applied.remaining == []
    assert plan_share(config, "snowflake", cursor=cursor).statements == []
    assert apply_share(config, None, "snowflake", cursor=cursor).ran == []


def test_each_simulated_consumer_sees_only_its_organizations(account):
    config, cursor = account
    if len(config.consumers) < 2:
        pytest.skip("set SNOWFLAKE_SHARE_TEST_CONSUMERS to two or more real consumer accounts to test isolation")
    apply_share(config, None, "snowflake", cursor=cursor)
    every_org = [org for consumer in config.consumers for org in consumer.organizations]
    cursor.executemany(
        f"INSERT INTO {config.source_database}.MARTS.fct_audit_events (event_id, organization_id, event_time,"
        " event_type, email) VALUES (%s, %s, '2026-03-02 10:00:00', 'user_login', %s)",
        [(f"e-{org}", org, f"someone@{org}.example") for org in every_org],
    )
    try:
        for consumer in config.consumers:
            cursor.execute(f"ALTER SESSION SET SIMULATED_DATA_SHARING_CONSUMER = {consumer.account}")
            cursor.execute(f"SELECT ORGANIZATION_ID, EMAIL FROM {config.database}.{config.schema}.AUDIT_EVENT")
            rows = cursor.fetchall()
            assert sorted(org for org, _ in rows) == sorted(consumer.organizations), consumer.account
            masked = {email == "***MASKED***" for _, email in rows}
            assert masked == ({False} if consumer.pii else {True}), consumer.account
    finally:
        cursor.execute("ALTER SESSION UNSET SIMULATED_DATA_SHARING_CONSUMER")
