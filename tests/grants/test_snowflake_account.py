"""Opt-in: the roles on a REAL Snowflake account (skipped, and reported as skipped, without credentials).

`eventpipe grants apply` for throw-away roles (EVENTPIPE_T<random>_*) and database; then, as the reader role,
the marts can be read and nothing can be written; everything is dropped at the end.

    SNOWFLAKE_ACCOUNT=... SNOWFLAKE_USER=... SNOWFLAKE_PASSWORD=... SNOWFLAKE_WAREHOUSE=... \\
    SNOWFLAKE_ROLE=<a role that may create roles, databases and manage grants> uv run --frozen pytest -m snowflake -ra
"""

from __future__ import annotations

import os
import secrets

import pytest

from eventpipe.grants.roles import GrantsConfig
from eventpipe.grants.sync import apply_grants, plan_grants
from eventpipe.warehouse.connections import connect_snowflake, credentials_in_env

pytestmark = [
    pytest.mark.snowflake,
    pytest.mark.skipif(
        not credentials_in_env() or not os.environ.get("SNOWFLAKE_WAREHOUSE"),
        reason="needs a real Snowflake account: set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD (or"
        " SNOWFLAKE_PRIVATE_KEY), SNOWFLAKE_WAREHOUSE and a SNOWFLAKE_ROLE that may create roles and grant them",
    ),
]


def test_the_reader_reads_the_marts_and_cannot_write():
    from snowflake.connector.errors import ProgrammingError

    token = secrets.token_hex(3).upper()
    config = GrantsConfig(
        database=f"EVENTPIPE_T{token}", warehouse=os.environ["SNOWFLAKE_WAREHOUSE"], prefix=f"EVENTPIPE_T{token}"
    )
    connection = connect_snowflake("admin", query_tag="eventpipe-grants-test")
    cursor = connection.cursor()
    admin_role = cursor.execute("select current_role()").fetchone()[0]
    try:
        apply_grants(config, "snowflake", cursor)
        assert plan_grants(config, "snowflake", cursor).statements == []
        cursor.execute(f"create table {config.database}.MARTS.FCT_SESSIONS (organization_id varchar)")
        cursor.execute(f"insert into {config.database}.MARTS.FCT_SESSIONS values ('acme')")
        reader = config.roles[3]
        cursor.execute(f"grant role {reader} to role {admin_role}")
        cursor.execute(f"use role {reader}")
        assert cursor.execute(f"select count(*) from {config.database}.MARTS.FCT_SESSIONS").fetchone() == (1,)
        for write in (
            f"insert into {config.database}.MARTS.FCT_SESSIONS values ('other')",
            f"delete from {config.database}.MARTS.FCT_SESSIONS",
            f"create table {config.database}.MARTS.X (a int)",
        ):
            with pytest.raises(ProgrammingError):
                cursor.execute(write)
    finally:
        cursor.execute(f"use role {admin_role}")
        cursor.execute(f"drop database if exists {config.database}")
        for role in config.roles:
            cursor.execute(f"drop role if exists {role}")
        connection.close()
