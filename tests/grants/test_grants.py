"""The Snowflake roles as code (eventpipe.grants): every statement is Snowflake SQL sqlglot parses, no role holds
more than its job needs (the reader cannot write), a plan converges and narrows before it widens.

fakesnow has no roles or grants, so the plan's content is what is tested here; tests/grants/test_snowflake_account.py
runs it on a real account (opt-in)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import sqlglot
from sqlglot import exp

from eventpipe.grants import planner, sync
from eventpipe.grants.planner import GrantState, after, plan
from eventpipe.grants.roles import ON_TABLE, ON_TABLES, GrantsConfig, RoleGrant, desired

CONFIG = GrantsConfig()
LOADER, TRANSFORMER, SHARE_OWNER, READER = CONFIG.roles
WRITES = {"INSERT", "UPDATE", "DELETE", "TRUNCATE", "OWNERSHIP", "ALL", "MANAGE GRANTS", "APPLY"}

# Statements sqlglot only knows as an opaque Command must match one of these exactly.
NAME = r"[A-Z][A-Z0-9_]*"
COMMAND_PATTERNS = [
    rf"CREATE ROLE IF NOT EXISTS {NAME}",
    rf"GRANT SELECT ON (FUTURE|ALL) (TABLES|VIEWS) IN SCHEMA {NAME}\.{NAME} TO ROLE {NAME}",
    rf"REVOKE [A-Z ]+ ON (FUTURE|ALL) (TABLES|VIEWS) IN SCHEMA {NAME}\.{NAME} FROM ROLE {NAME}",
    rf"REVOKE [A-Z ]+ ON (ACCOUNT|(DATABASE|WAREHOUSE) {NAME}|SCHEMA {NAME}\.{NAME}"
    rf"|(TABLE|VIEW) {NAME}\.{NAME}\.{NAME}) FROM ROLE {NAME}",
]


def full_state(config: GrantsConfig = CONFIG) -> GrantState:
    """An account after an apply, once the loader has created ops.load_batch."""
    tables = frozenset(g.name for g in desired(config) if g.on == ON_TABLE)
    return after(GrantState(tables=tables), config)


def test_an_applied_account_needs_nothing():
    assert plan(full_state(), CONFIG) == []


START_STATES = {
    "empty account": GrantState(),
    "roles only": GrantState(roles=frozenset(CONFIG.roles)),
    "reader may write the marts": GrantState(
        roles=frozenset(CONFIG.roles),
        database_exists=True,
        schemas=frozenset(CONFIG.schema(s) for s in ("RAW", "OPS", "STAGING", "MARTS")),
        tables=frozenset({"ANALYTICS.OPS.LOAD_BATCH"}),
        grants=desired(CONFIG)
        | {
            RoleGrant(READER, "INSERT", ON_TABLES, "ANALYTICS.MARTS"),
            RoleGrant(READER, "SELECT", ON_TABLES, "ANALYTICS.RAW"),
            RoleGrant(LOADER, "CREATE TABLE", "SCHEMA", "ANALYTICS.MARTS"),
            RoleGrant(READER, "DELETE", "TABLE", "ANALYTICS.MARTS.FCT_SESSIONS"),
        },
    ),
}


def all_statements() -> list[str]:
    return [s for state in [*START_STATES.values(), full_state()] for s in plan(state, CONFIG)]


def test_every_statement_parses_as_one_snowflake_statement():
    kinds = set()
    for statement in all_statements():
        parsed = sqlglot.parse(statement, read="snowflake")
        assert len(parsed) == 1, statement
        tree = parsed[0]
        kinds.add(type(tree).__name__)
        if isinstance(tree, exp.Grant | exp.Revoke):
            # Fully parsed: the text round-trips, the principal is one role, the privilege one of the statement's.
            assert tree.sql("snowflake") == statement, statement
            assert [p.args["kind"] for p in tree.args["principals"]] == ["ROLE"], statement
            assert statement.startswith("GRANT " if isinstance(tree, exp.Grant) else "REVOKE ")
        elif isinstance(tree, exp.Create):
            assert re.fullmatch(rf"CREATE (DATABASE|SCHEMA) IF NOT EXISTS {NAME}(\.{NAME})?", statement), statement
            assert tree.args["exists"] and tree.kind in ("DATABASE", "SCHEMA"), statement
        else:
            assert isinstance(tree, exp.Command), statement
            assert any(re.fullmatch(p, statement) for p in COMMAND_PATTERNS), statement
    assert kinds == {"Grant", "Revoke", "Create", "Command"}


def test_the_reader_cannot_write():
    """Every privilege the reader holds reads; what it reads is the marts and the one ops table the explorer joins."""
    reader = {g for g in desired(CONFIG) if g.role == READER}
    assert {g.privilege for g in reader} == {"USAGE", "SELECT"}
    assert {(g.privilege, g.on, g.name) for g in reader if g.privilege == "SELECT"} == {
        ("SELECT", "TABLES", "ANALYTICS.MARTS"),
        ("SELECT", "VIEWS", "ANALYTICS.MARTS"),
        ("SELECT", "TABLE", "ANALYTICS.OPS.LOAD_BATCH"),
    }
    for statement in plan(GrantState(), CONFIG):
        if statement.endswith(f"TO ROLE {READER}"):
            privilege = statement.removeprefix("GRANT ").split(" ON ")[0]
            assert privilege in {"USAGE", "SELECT"}, statement


def test_a_writer_writes_only_where_its_job_is():
    creates = {(g.role, g.name) for g in desired(CONFIG) if g.privilege.startswith("CREATE ") and g.on == "SCHEMA"}
    assert creates == {
        (LOADER, "ANALYTICS.RAW"),
        (LOADER, "ANALYTICS.OPS"),
        (TRANSFORMER, "ANALYTICS.OPS"),  # ops.dbt_build_bound
        (TRANSFORMER, "ANALYTICS.STAGING"),
        (TRANSFORMER, "ANALYTICS.MARTS"),
    }
    on_account = {(g.role, g.privilege) for g in desired(CONFIG) if g.on == "ACCOUNT"}
    assert on_account == {(SHARE_OWNER, "CREATE DATABASE"), (SHARE_OWNER, "CREATE SHARE")}
    assert not {g for g in desired(CONFIG) if g.privilege in WRITES}
    # The share owner and the reader read the marts, nothing of raw.
    assert not {g for g in desired(CONFIG) if g.role in (SHARE_OWNER, READER) and "RAW" in g.name}


def test_drift_is_revoked_before_anything_is_granted():
    statements = plan(START_STATES["reader may write the marts"], CONFIG)
    assert statements == [
        f"REVOKE CREATE TABLE ON SCHEMA ANALYTICS.MARTS FROM ROLE {LOADER}",
        f"REVOKE DELETE ON TABLE ANALYTICS.MARTS.FCT_SESSIONS FROM ROLE {READER}",
        f"REVOKE INSERT ON FUTURE TABLES IN SCHEMA ANALYTICS.MARTS FROM ROLE {READER}",
        f"REVOKE INSERT ON ALL TABLES IN SCHEMA ANALYTICS.MARTS FROM ROLE {READER}",
        f"REVOKE SELECT ON FUTURE TABLES IN SCHEMA ANALYTICS.RAW FROM ROLE {READER}",
        f"REVOKE SELECT ON ALL TABLES IN SCHEMA ANALYTICS.RAW FROM ROLE {READER}",
    ]


@pytest.mark.parametrize("start", sorted(START_STATES))
def test_a_plan_converges(start):
    state = START_STATES[start]
    assert plan(state, CONFIG)
    assert plan(after(state, CONFIG), CONFIG) == []


def test_a_table_grant_waits_for_its_table():
    assert planner.waiting(GrantState(), CONFIG) == [RoleGrant(READER, "SELECT", "TABLE", "ANALYTICS.OPS.LOAD_BATCH")]
    assert not any("LOAD_BATCH" in s for s in plan(GrantState(), CONFIG))
    created = replace(after(GrantState(), CONFIG), tables=frozenset({"ANALYTICS.OPS.LOAD_BATCH"}))
    assert plan(created, CONFIG) == [f"GRANT SELECT ON TABLE ANALYTICS.OPS.LOAD_BATCH TO ROLE {READER}"]
    assert planner.waiting(created, CONFIG) == []


@pytest.mark.parametrize("bad", ["analytics; drop", "1DB", "SELECT", "a b"])
def test_names_are_plain_identifiers(bad):
    with pytest.raises(ValueError, match="not a plain Snowflake identifier"):
        GrantsConfig(database=bad)


class ShowCursor:
    """What SHOW ROLES / DATABASES / SCHEMAS / TABLES / GRANTS TO ROLE / FUTURE GRANTS TO ROLE answer in Snowflake
    (their documented columns), for an account in a given state: Snowflake cannot run here."""

    def __init__(self, answers: dict[str, tuple[list[str], list[tuple]]]) -> None:
        self.answers, self.asked = answers, []

    def execute(self, sql: str) -> None:
        self.asked.append(sql)
        columns, self.rows = self.answers.get(sql, (["name"], []))
        self.description = [(column,) for column in columns]

    def fetchall(self) -> list[tuple]:
        return self.rows


def test_read_state_folds_what_an_all_grant_left_and_keeps_the_rest():
    grants_columns = ["created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name", "grant_option"]
    future_columns = ["created_on", "privilege", "grant_on", "name", "grant_to", "grantee_name", "grant_option"]
    answers = {f"SHOW ROLES LIKE '{READER}'": (["name"], [(READER,)])}
    answers["SHOW DATABASES LIKE 'ANALYTICS'"] = (["name"], [("ANALYTICS",)])
    answers["SHOW SCHEMAS IN DATABASE ANALYTICS"] = (["name"], [("MARTS",), ("OPS",)])
    answers["SHOW TABLES LIKE 'LOAD_BATCH' IN SCHEMA ANALYTICS.OPS"] = (["name"], [("LOAD_BATCH",)])
    answers[f"SHOW GRANTS TO ROLE {READER}"] = (
        grants_columns,
        [
            ("t", "USAGE", "DATABASE", "ANALYTICS", "ROLE", READER, "false"),
            ("t", "SELECT", "TABLE", "ANALYTICS.MARTS.FCT_SESSIONS", "ROLE", READER, "false"),  # from ALL
            ("t", "INSERT", "TABLE", "ANALYTICS.MARTS.FCT_SESSIONS", "ROLE", READER, "false"),  # by hand
            ("t", "SELECT", "TABLE", "ANALYTICS.OPS.LOAD_BATCH", "ROLE", READER, "false"),
        ],
    )
    answers[f"SHOW FUTURE GRANTS TO ROLE {READER}"] = (
        future_columns,
        [("t", "SELECT", "TABLE", "ANALYTICS.MARTS.<TABLE>", "ROLE", READER, "false")],
    )
    state = sync.read_state(ShowCursor(answers), CONFIG)
    assert state.roles == {READER} and state.tables == {"ANALYTICS.OPS.LOAD_BATCH"}
    assert state.grants == {
        RoleGrant(READER, "USAGE", "DATABASE", "ANALYTICS"),
        RoleGrant(READER, "INSERT", "TABLE", "ANALYTICS.MARTS.FCT_SESSIONS"),
        RoleGrant(READER, "SELECT", "TABLE", "ANALYTICS.OPS.LOAD_BATCH"),
        RoleGrant(READER, "SELECT", "TABLES", "ANALYTICS.MARTS"),
    }
    assert f"REVOKE INSERT ON TABLE ANALYTICS.MARTS.FCT_SESSIONS FROM ROLE {READER}" in plan(state, CONFIG)


def test_the_cli_plans_applies_and_then_has_nothing_to_do(tmp_path):
    env = {**os.environ, "EVENTPIPE_HOME": str(tmp_path)}

    def grants(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "eventpipe.cli", "grants", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)

    planned = grants("plan")
    assert planned.stdout.startswith(f"CREATE ROLE IF NOT EXISTS {LOADER};\n")
    assert len(sqlglot.parse(planned.stdout, read="snowflake")) == len(plan(GrantState(), CONFIG))
    applied = grants("apply")
    assert applied.stdout == planned.stdout
    again = grants("plan")
    assert again.stdout == "" and "0 statement(s)" in again.stderr
    assert "waiting: SELECT on ANALYTICS.OPS.LOAD_BATCH" in again.stderr
    assert (tmp_path / "grants" / "state.json").exists()
