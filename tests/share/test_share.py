"""The Secure Data Share as code: config, the column mapping, the Snowflake planner, the local DuckDB share.

GIVEN a consumers config,
THEN invalid or SQL-bearing values are refused by name; the planner's statements parse as Snowflake
SQL (sqlglot; statements it only knows as a Command also match a strict pattern); a plan applied to
any start state (simulated) reaches the config's state, and planning again yields nothing; plans for
the usual changes equal the golden files;
AND GIVEN marts built by dbt from generated events, the local DuckDB share shows each consumer
exactly its organizations' rows in every view, masks EMAIL unless PII is granted, has Airkit's
column names, and runs every query in docs/querying-the-share.md.

Golden files: tests/share/golden/plan_<scenario>.sql. After an intended change to the statements,
regenerate them and review the diff:

    EVENTPIPE_UPDATE_GOLDEN=1 uv run --frozen pytest tests/share/test_share.py -k golden
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from eventpipe.share import (
    VIEWS,
    AccessRow,
    Grant,
    ShareState,
    apply_to_state,
    build_local_share,
    format_plan,
    load_config,
    parse_config,
    plan,
    read_state,
)
from eventpipe.share.local import PRIVATE_SCHEMA
from eventpipe.share.simulate import PATTERNS, SimulationError, classify
from eventpipe.share.snowflake import desired_state
from eventpipe.warehouse import connect
from tests.share.support import START, SimulatedSnowflake, copy_warehouse
from tests.tenant_support import SHARED_SESSION_ID, colliding_events

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
DOC = REPO / "docs" / "querying-the-share.md"
MARTS_DIR = REPO / "dbt_project" / "models" / "marts"  # one yml per mart

# Airkit's documented names (reference/data-model-and-protocols.md) plus the eventpipe additions
# the docs mark as such, in view order: written out here, not derived from the mapping under test.
_EVENT_TIME = ["EVENT_TIME", "EVENT_YEAR", "EVENT_MONTH", "EVENT_DATE"]
EXPECTED_COLUMNS = {
    "SESSION_EVENT": ["ORGANIZATION_ID", "EVENT_ID", *_EVENT_TIME, "APP_ID", "BRANCH_ID", "DEPLOY_ID", "SESSION_ID",
                      "EVENT_TYPE", "ACTOR_ID", "CHANNEL_ID", "FLOW_ID", "ACTIVITY_ID", "SOURCE_RUNTIME",
                      "SOURCE_DETAIL", "USER_AGENT", "SCREEN_WIDTH", "SCREEN_HEIGHT", "STATUS", "CODE", "MESSAGE",
                      "DURATION_MILLIS", "ACTION_ID", "ACTION_NAME", "CUSTOM_METRICS", "APP_EVENT_NAME",
                      "APP_EVENT_PROPERTIES"],
    "AUDIT_EVENT": ["ORGANIZATION_ID", "EVENT_ID", *_EVENT_TIME, "EVENT_TYPE", "USER_ID", "EMAIL", "APP_ID",
                    "RESOURCE_TYPE", "RESOURCE_ID", "DOMAIN", "API_KEY_ID", "ROLE_ID", "LOGIN_TYPE"],
    "PLATFORM_EVENT": ["ORGANIZATION_ID", "EVENT_ID", *_EVENT_TIME, "APP_ID", "EVENT_TYPE", "STATUS", "MESSAGE",
                       "SERVICE", "SERVICE_VERSION", "CONNECTION_ID", "GROUP_ID", "DURATION_MILLIS"],
    "SESSION_SUMMARY": ["ORGANIZATION_ID", "SESSION_ID", "APP_ID", "BRANCH_ID", "DEPLOY_ID", "FIRST_EVENT_TIME",
                        "FIRST_EVENT_YEAR", "FIRST_EVENT_MONTH", "FIRST_EVENT_DATE", "LAST_EVENT_TIME",
                        "START_EVENT_TIME", "END_EVENT_TIME", "ACTIONS_FIRED", "EVENTS_OCCURRED", "ACTION_RUNS",
                        "ACTION_ERRORS", "RUNTIME_ERRORS", "MESSAGES_SENT", "MESSAGES_RECEIVED", "USER_AGENT",
                        "CUSTOM_METRICS", "STATUS", "DURATION_MILLIS"],
    "CUSTOM_METRIC_FIELD_EVENT": ["ORGANIZATION_ID", "EVENT_ID", *_EVENT_TIME, "APP_ID", "SESSION_ID",
                                  "CUSTOM_METRIC_KEY", "CUSTOM_METRIC_FIELD_KEY", "FIELD_VALUE",
                                  "FIELD_VALUE_NUMBER"],
    "CUSTOM_SESSION_METRIC": ["ORGANIZATION_ID", "APP_ID", "SESSION_ID", "CUSTOM_METRIC_KEY",
                              "CUSTOM_METRIC_FIELD_KEY", "COUNT_COUNT", "STATISTIC_SUM", "STATISTIC_MINIMUM",
                              "STATISTIC_MAXIMUM", "STATISTIC_FIRST", "STATISTIC_LAST", "FIELD_FIRST", "FIELD_LAST",
                              "FIRST_EVENT_TIME", "FIRST_EVENT_DATE", "LAST_EVENT_TIME"],
}  # fmt: skip


def config_of(consumers: list[dict], **share) -> object:
    return parse_config({"share": share, "consumers": consumers})


BASE = [
    {"account": "ACME_ANALYTICS", "organizations": ["org-a1", "org-a2"], "pii": False},
    {"account": "GLOBEX_BI", "organizations": ["org-g1"], "pii": True},
]
INITECH = {"account": "INITECH_DATA", "organizations": ["org-i1"], "pii": False}
BASE_CONFIG = config_of(BASE)
SCENARIOS = {
    "from_empty": (ShareState(), BASE_CONFIG),
    "add_consumer": (desired_state(BASE_CONFIG), config_of([*BASE, INITECH])),
    "remove_consumer": (desired_state(BASE_CONFIG), config_of(BASE[:1])),
    "add_org": (desired_state(BASE_CONFIG), config_of([{**BASE[0], "organizations": ["org-a1", "org-a2", "org-a3"]},
                                                       BASE[1]])),
    "grant_pii": (desired_state(BASE_CONFIG), config_of([{**BASE[0], "pii": True}, BASE[1]])),
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


def test_example_config_loads():
    config = load_config(REPO / "config" / "consumers.example.yml")
    assert [c.account for c in config.consumers] == ["ACME_ANALYTICS", "GLOBEX_BI"]
    assert config.consumer("globex_bi").pii is True
    assert config.consumer("ACME_ANALYTICS").local_schema == "share_acme_analytics"
    assert (config.name, config.database, config.schema, config.source_database) == (
        "EVENTPIPE_SHARE",
        "EVENTPIPE_SHARE",
        "SHARE",
        "ANALYTICS",
    )


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"consumers": [{"account": "ACME; DROP SHARE X", "organizations": ["o"]}]}, "ACME; DROP SHARE X"),
        ({"consumers": [{"account": 'ACME"', "organizations": ["o"]}]}, 'ACME"'),
        ({"consumers": [{"account": "1ACME", "organizations": ["o"]}]}, "1ACME"),
        ({"consumers": [{"account": "ORG.ACME", "organizations": ["o"]}]}, "ORG.ACME"),
        ({"consumers": [{"account": "A" * 256, "organizations": ["o"]}]}, "A" * 256),
        ({"consumers": [{"account": "select", "organizations": ["o"]}]}, "select"),
        ({"consumers": [{"account": "ACME", "organizations": ["o'); DELETE FROM t; --"]}]}, "o'); DELETE FROM t; --"),
        ({"consumers": [{"account": "ACME", "organizations": ["o o"]}]}, "o o"),
        ({"consumers": [{"account": "ACME", "organizations": [123]}]}, "123"),
        ({"consumers": [{"account": "ACME", "organizations": ["x" * 129]}]}, "x" * 129),
        ({"consumers": [{"account": "ACME", "organizations": ["o"], "pii": "yes"}]}, "yes"),
        ({"consumers": [{"account": "ACME", "organizations": []}]}, "non-empty"),
        ({"consumers": [{"account": "ACME", "organisations": ["o"]}]}, "organisations"),
        ({"consumers": [{"account": "ACME", "organizations": ["o", "o"]}]}, "'o' is listed twice"),
        ({"consumers": [{"account": "acme", "organizations": ["o"]}, {"account": "ACME", "organizations": ["p"]}]},
         "'ACME' is listed twice"),
        ({"share": {"database": "DB; DROP DATABASE PROD"}, "consumers": []}, "DB; DROP DATABASE PROD"),
        ({"share": {"name": "my-share"}, "consumers": []}, "my-share"),
        ({"share": {"schema": "X", "private_schema": "x"}, "consumers": []}, "must differ"),
        ({"share": {"nmae": "X"}, "consumers": []}, "nmae"),
        (["not", "a", "mapping"], "mapping"),
    ],
)  # fmt: skip
def test_config_refuses_unsafe_or_invalid_values(data, named):
    with pytest.raises(ValueError) as error:
        parse_config(data)
    assert named in str(error.value)


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "consumers.yml"
    path.write_text("consumers:\n  - account: 'x y'\n    organizations: [o]\n")
    with pytest.raises(ValueError, match=r"consumers\.yml.*'x y'"):
        load_config(path)


# --------------------------------------------------------------------------------------------
# the column mapping
# --------------------------------------------------------------------------------------------


def test_views_have_airkits_names_and_columns():
    assert {view.name: list(view.column_names) for view in VIEWS} == EXPECTED_COLUMNS


def test_every_column_the_marts_flag_as_pii_is_masked_wherever_it_is_shared():
    marts = [model for path in sorted(MARTS_DIR.glob("*.yml")) for model in yaml.safe_load(path.read_text())["models"]]
    pii = {
        (model["name"], column["name"])
        for model in marts
        for column in model.get("columns", [])
        if (column.get("config", {}).get("meta", {}) or column.get("meta", {})).get("contains_pii")
    }
    assert ("fct_audit_events", "email") in pii
    for view in VIEWS:
        for column in view.columns:
            used = {c.name for c in sqlglot.parse_one(column.expr, read="snowflake").find_all(exp.Column)}
            leaked = {name for name in used if (view.mart, name) in pii}
            assert column.pii or not leaked, f"{view.name}.{column.name} exposes PII column(s) {leaked} unmasked"


def test_the_doc_lists_exactly_the_mapped_columns_of_every_view():
    doc = DOC.read_text()
    for view in VIEWS:
        section = doc.split(f"\n### {view.name}\n", 1)[1].split("\n#", 1)[0]
        listed = re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE)
        assert listed == list(view.column_names), view.name
        for unmapped in view.unmapped:
            assert f"`{unmapped}`" in section, (view.name, unmapped)


# --------------------------------------------------------------------------------------------
# Snowflake statements: parse, patterns, golden plans
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_golden_plan(scenario):
    current, config = SCENARIOS[scenario]
    got = format_plan(plan(current, config))
    path = GOLDEN / f"plan_{scenario}.sql"
    if os.environ.get("EVENTPIPE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert got == path.read_text(), f"plan differs from {path} (see this module's docstring to regenerate)"


def test_the_plan_from_an_empty_account_is_the_whole_share():
    assert format_plan(plan(ShareState(), BASE_CONFIG)) == (GOLDEN / "plan_from_empty.sql").read_text()


def _all_statements() -> list[str]:
    statements = []
    for current, config in SCENARIOS.values():
        statements += plan(current, config)
    # revokes and drops too: a share that has drifted from the config
    drifted = replace(
        desired_state(BASE_CONFIG),
        views={**desired_state(BASE_CONFIG).views, "OLD_VIEW": None},
        grants=desired_state(BASE_CONFIG).grants | {Grant("SELECT", "VIEW", "EVENTPIPE_SHARE.SHARE.OLD_VIEW")},
    )
    return statements + plan(drifted, BASE_CONFIG)


SQL_TYPES = {
    "create_database": exp.Create,
    "create_schema": exp.Create,
    "create_table": exp.Create,
    "create_view": exp.Create,
    "drop_view": exp.Drop,
    "delete": exp.Delete,
    "update": exp.Update,
    "insert": exp.Insert,
}


def test_every_statement_parses_as_snowflake_sql():
    """sqlglot parses CREATE/DROP/DML fully; share statements (CREATE SHARE, GRANT/REVOKE ... SHARE,
    ALTER SHARE) only as an opaque Command, so those must also match their strict pattern exactly."""
    kinds = set()
    for statement in _all_statements():
        parsed = sqlglot.parse(statement, read="snowflake")
        assert len(parsed) == 1, statement
        kind, _ = classify(statement)  # raises unless one strict pattern matches the whole statement
        kinds.add(kind)
        if kind in SQL_TYPES:
            assert isinstance(parsed[0], SQL_TYPES[kind]), statement
        else:
            assert isinstance(parsed[0], exp.Command), statement
        if kind == "create_view":
            properties = {type(p) for p in parsed[0].args["properties"].expressions}
            assert exp.SecureProperty in properties and parsed[0].args["kind"] == "VIEW"
            assert parsed[0].expression.find(exp.Join) is not None
    assert kinds == set(PATTERNS), f"statement kinds never exercised: {set(PATTERNS) - kinds}"


def test_views_filter_on_current_account_and_read_only_marts_and_the_mapping():
    for statement in plan(ShareState(), BASE_CONFIG):
        if statement.startswith("CREATE OR REPLACE SECURE VIEW"):
            tree = sqlglot.parse_one(statement, read="snowflake")
            tables = {".".join(p.name for p in (t.args.get("catalog"), t.args.get("db"), t.this) if p)
                      for t in tree.expression.find_all(exp.Table)}  # fmt: skip
            assert tables <= {f"ANALYTICS.MARTS.{v.mart}" for v in VIEWS} | {
                "EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS"
            }
            assert "WHERE sa.snowflake_account = CURRENT_ACCOUNT()" in statement


# --------------------------------------------------------------------------------------------
# planner: order, idempotence, drift
# --------------------------------------------------------------------------------------------


def _start_states() -> dict[str, ShareState]:
    full = desired_state(BASE_CONFIG)
    other = config_of([INITECH], database="OTHER_DB", source_database="OTHER_DB")
    return {
        "empty": ShareState(),
        "base": full,
        "database_only": ShareState(database_exists=True),
        "other_config": apply_to_state(ShareState(), plan(ShareState(), other), other),
        "stale_view_and_dup_rows": replace(
            full,
            views={**full.views, "SESSION_EVENT": "0" * 16, "AUDIT_EVENT": None, "OLD": "1" * 16},
            mapping=(*full.mapping, full.mapping[0], AccessRow("org-x", "ACME_ANALYTICS", True)),
            grants=full.grants | {Grant("SELECT", "VIEW", "EVENTPIPE_SHARE.SHARE.OLD")},
            accounts=full.accounts | {"STRANGER"},
        ),
        "share_without_grants": replace(full, grants=frozenset(), accounts=frozenset()),
        "mapping_table_dropped": replace(full, mapping_table_exists=False, mapping=()),
    }


@pytest.mark.parametrize("start", sorted(_start_states()))
@pytest.mark.parametrize("target", sorted(SCENARIOS))
def test_plan_reaches_the_config_and_then_plans_nothing(start, target):
    config = SCENARIOS[target][1]
    state = _start_states()[start]
    after = apply_to_state(state, plan(state, config), config)
    assert after == desired_state(config)
    assert plan(after, config) == []


def test_plan_same_database_for_views_and_marts_needs_no_reference_usage():
    config = config_of(BASE, source_database="EVENTPIPE_SHARE")
    statements = plan(ShareState(), config)
    assert not any("REFERENCE_USAGE" in s for s in statements)
    assert plan(apply_to_state(ShareState(), statements, config), config) == []


def test_access_is_narrowed_before_it_is_widened():
    remove = plan(*SCENARIOS["remove_consumer"])
    assert remove[0] == "ALTER SHARE EVENTPIPE_SHARE REMOVE ACCOUNTS = GLOBEX_BI"
    assert remove[1].startswith("DELETE FROM EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS WHERE snowflake_account")
    assert len(remove) == 2
    add = plan(*SCENARIOS["add_consumer"])
    assert add[-1] == "ALTER SHARE EVENTPIPE_SHARE ADD ACCOUNTS = INITECH_DATA"
    empty = plan(ShareState(), BASE_CONFIG)
    # every view exists and is granted before any account is added
    assert empty[-1].startswith("ALTER SHARE EVENTPIPE_SHARE ADD ACCOUNTS")
    assert max(i for i, s in enumerate(empty) if s.startswith("GRANT")) < len(empty) - 1


def test_simulation_refuses_statements_in_an_impossible_order():
    statements = plan(ShareState(), BASE_CONFIG)
    first_grant = next(i for i, s in enumerate(statements) if s.startswith("GRANT SELECT"))
    with pytest.raises(SimulationError, match="REFERENCE_USAGE must be granted first"):
        reordered = [s for s in statements if "REFERENCE_USAGE" not in s]
        apply_to_state(ShareState(), reordered, BASE_CONFIG)
    with pytest.raises(SimulationError, match="share missing"):
        apply_to_state(ShareState(), statements[first_grant:], BASE_CONFIG)
    with pytest.raises(ValueError, match="not a statement the share planner emits"):
        classify("GRANT SELECT ON ALL TABLES IN SCHEMA X.Y TO SHARE EVENTPIPE_SHARE")


def test_names_read_from_the_account_never_reach_sql_unchecked():
    full = desired_state(BASE_CONFIG)
    with pytest.raises(ValueError, match="BAD VIEW"):
        plan(replace(full, views={**full.views, "BAD VIEW": None}), BASE_CONFIG)
    with pytest.raises(ValueError, match="x'y"):
        plan(replace(full, mapping=(AccessRow("x'y", "ACME_ANALYTICS", False),)), BASE_CONFIG)


# --------------------------------------------------------------------------------------------
# reading state from an account (DB-API cursor) and applying: against a simulated Snowflake
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", sorted(_start_states()))
def test_read_state_reads_back_what_the_account_holds(start):
    state = _start_states()[start]
    cursor = SimulatedSnowflake(state, BASE_CONFIG)
    assert read_state(cursor, BASE_CONFIG) == state.normalized()
    for sql in cursor.executed:
        assert len(sqlglot.parse(sql, read="snowflake")) == 1


def test_apply_through_a_cursor_converges_and_then_does_nothing():
    from eventpipe.share.sync import apply_to_snowflake

    cursor = SimulatedSnowflake(ShareState(), BASE_CONFIG)
    applied = apply_to_snowflake(BASE_CONFIG, cursor)
    assert applied.ran == plan(ShareState(), BASE_CONFIG) and applied.remaining == []
    assert cursor.state == desired_state(BASE_CONFIG)
    target = SCENARIOS["add_consumer"][1]
    assert apply_to_snowflake(target, cursor).ran == plan(desired_state(BASE_CONFIG), target)
    assert apply_to_snowflake(target, cursor).ran == []
    assert plan(read_state(cursor, target), target) == []


# --------------------------------------------------------------------------------------------
# the local DuckDB share over real marts (generate -> load -> dbt build)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(marts_warehouse, tmp_path_factory) -> Path:
    """A private copy of the session's warehouse with real marts (generate -> load -> dbt build)."""
    return copy_warehouse(marts_warehouse, tmp_path_factory.mktemp("share") / "home")


@pytest.fixture(scope="module")
def local_share(warehouse):
    con = connect(warehouse)
    orgs = [
        row[0] for row in con.execute("SELECT DISTINCT organization_id FROM marts.fct_sessions ORDER BY 1").fetchall()
    ]
    assert len(orgs) == 3
    # ACME: two orgs, no PII; GLOBEX: the third org, PII; INITECH: ACME's second org again, with PII.
    config = config_of([
        {"account": "ACME_ANALYTICS", "organizations": orgs[:2], "pii": False},
        {"account": "GLOBEX_BI", "organizations": orgs[2:], "pii": True},
        {"account": "INITECH_DATA", "organizations": [orgs[1]], "pii": True},
    ])  # fmt: skip
    assert build_local_share(con, config) == {c.account: c.local_schema for c in config.consumers}
    yield con, config
    con.close()


# How to tell a view's rows apart, and the same rows in the mart.
KEYS = {
    "SESSION_EVENT": ("EVENT_ID", "SELECT event_id FROM marts.fct_session_events"),
    "AUDIT_EVENT": ("EVENT_ID", "SELECT event_id FROM marts.fct_audit_events"),
    "PLATFORM_EVENT": ("EVENT_ID", "SELECT event_id FROM marts.fct_platform_events"),
    "SESSION_SUMMARY": ("SESSION_ID", "SELECT session_id FROM marts.fct_sessions"),
    "CUSTOM_METRIC_FIELD_EVENT": ("EVENT_ID", "SELECT event_id FROM marts.fct_custom_metric_values"),
    "CUSTOM_SESSION_METRIC": (
        "SESSION_ID, CUSTOM_METRIC_KEY, CUSTOM_METRIC_FIELD_KEY",
        "SELECT DISTINCT session_id, metric_key, metric_field FROM marts.fct_custom_metric_values"
        " WHERE session_id IS NOT NULL",
    ),
}


@pytest.mark.parametrize("view", [v.name for v in VIEWS])
def test_each_consumer_sees_exactly_its_organizations_rows(local_share, view):
    con, config = local_share
    key, mart_sql = KEYS[view]
    for consumer in config.consumers:
        orgs = list(consumer.organizations)
        got = con.execute(f"SELECT {key}, ORGANIZATION_ID FROM {consumer.local_schema}.{view}").fetchall()
        others = {o for c in config.consumers for o in c.organizations} - set(orgs)
        assert others, "every consumer has organizations it must not see"
        assert [row for row in got if row[-1] in others] == [], f"{consumer.account} sees others' rows in {view}"
        expected = con.execute(f"{mart_sql} {'AND' if 'WHERE' in mart_sql else 'WHERE'} organization_id IN ?",
                               [orgs]).fetchall()  # fmt: skip
        assert sorted(row[:-1] for row in got) == sorted(expected), f"{consumer.account}.{view}"
        assert got, f"{consumer.account} should see rows in {view}"


def _shared_session_rows(con, schema: str, view: str, columns: str) -> list[tuple]:
    sql = f"SELECT {columns} FROM {schema}.{view} WHERE SESSION_ID = ? ORDER BY ALL"
    return con.execute(sql, [SHARED_SESSION_ID]).fetchall()


def test_a_consumer_sees_nothing_of_another_organization_reusing_its_session_ids(local_share):
    """ACME_ANALYTICS's first organization and GLOBEX_BI's organization both landed a session with the same
    id (tests.tenant_support, through the real load and dbt): each consumer sees its own session, summarized
    from its own events only, and no row, event, count, time, device or metric of the other's."""
    con, config = local_share
    orgs = [
        row[0] for row in con.execute("SELECT DISTINCT organization_id FROM marts.fct_sessions ORDER BY 1").fetchall()
    ]
    _, expected = colliding_events((orgs[0], orgs[2]), ("app", "app"), START)
    for account, org in (("ACME_ANALYTICS", orgs[0]), ("GLOBEX_BI", orgs[2])):
        schema, mine = config.consumer(account).local_schema, expected[org]
        summary = _shared_session_rows(
            con,
            schema,
            "SESSION_SUMMARY",
            "ORGANIZATION_ID, FIRST_EVENT_TIME, END_EVENT_TIME, EVENTS_OCCURRED, ACTION_RUNS, MESSAGES_SENT,"
            " USER_AGENT::VARCHAR, CUSTOM_METRICS::VARCHAR",
        )
        assert [(*row[:6], json.loads(row[6]), json.loads(row[7])) for row in summary] == [
            (org, mine.started_at, mine.ended_at, len(mine.event_ids), mine.action_runs, mine.messages_sent,
             {"deviceClass": mine.device_class}, {"CSAT": mine.csat_score})
        ], account  # fmt: skip
        events = _shared_session_rows(con, schema, "SESSION_EVENT", "ORGANIZATION_ID, EVENT_ID")
        assert events == [(org, event_id) for event_id in sorted(mine.event_ids)], account
        values = _shared_session_rows(con, schema, "CUSTOM_METRIC_FIELD_EVENT", "ORGANIZATION_ID, FIELD_VALUE_NUMBER")
        assert values == [(org, mine.csat_score)], account
        metrics = _shared_session_rows(
            con, schema, "CUSTOM_SESSION_METRIC",
            "ORGANIZATION_ID, CUSTOM_METRIC_KEY, COUNT_COUNT, STATISTIC_FIRST, STATISTIC_LAST",
        )  # fmt: skip
        assert metrics == [(org, "CSAT", 1, mine.csat_score, mine.csat_score)], account


def test_email_is_masked_unless_the_consumer_is_granted_pii(local_share):
    con, config = local_share
    acme, globex, initech = (config.consumer(a) for a in ("ACME_ANALYTICS", "GLOBEX_BI", "INITECH_DATA"))

    def emails(consumer):
        sql = f"SELECT v.EMAIL, m.email FROM {consumer.local_schema}.AUDIT_EVENT v JOIN marts.fct_audit_events m"
        return con.execute(f"{sql} ON m.event_id = v.EVENT_ID WHERE m.email IS NOT NULL").fetchall()

    masked = emails(acme)
    assert masked and {shown for shown, _ in masked} == {"***MASKED***"}
    for consumer in (globex, initech):
        clear = emails(consumer)
        assert clear and all(shown == real and "@" in real for shown, real in clear)
    # the same organization's emails: masked for ACME, clear for INITECH (PII is per account and org)
    shared_org = initech.organizations[0]
    sql = "SELECT count(*) FROM {}.AUDIT_EVENT WHERE ORGANIZATION_ID = ? AND EMAIL LIKE '%@%'"
    assert con.execute(sql.format(acme.local_schema), [shared_org]).fetchone()[0] == 0
    assert con.execute(sql.format(initech.local_schema), [shared_org]).fetchone()[0] > 0


def test_local_views_have_the_documented_columns_and_types(local_share):
    con, config = local_share
    for consumer in config.consumers:
        for view in VIEWS:
            described = con.execute(f"DESCRIBE {consumer.local_schema}.{view.name}").fetchall()
            assert [row[0] for row in described] == EXPECTED_COLUMNS[view.name]
            for name, type_, *_ in described:
                if name.endswith("_TIME"):
                    assert type_ == "TIMESTAMP", (view.name, name)  # naive UTC: Snowflake's TIMESTAMP_NTZ
                if name.endswith(("_DATE", "_MONTH")):
                    assert type_ == "DATE", (view.name, name)
                if name.endswith("_YEAR"):
                    assert type_ == "BIGINT", (view.name, name)


def test_rebuilding_drops_consumers_that_left(local_share):
    con, config = local_share
    schemas = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'share%' ORDER BY 1"
    fewer = replace(config, consumers=config.consumers[:1])
    try:
        build_local_share(con, fewer)
        assert [r[0] for r in con.execute(schemas).fetchall()] == [PRIVATE_SCHEMA, "share_acme_analytics"]
    finally:
        build_local_share(con, config)
    assert len(con.execute(schemas).fetchall()) == 1 + len(config.consumers)


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_doc_has_the_promised_example_queries():
    text = "\n".join(doc_queries())
    assert len(doc_queries()) >= 3
    assert "SESSION_SUMMARY" in text and "'CSAT'" in text and "'invalid_login'" in text


@pytest.mark.parametrize("number", range(len(doc_queries())))
def test_doc_queries_run_on_the_local_share(local_share, number):
    con, config = local_share
    query = doc_queries()[number]
    parsed = sqlglot.parse(query, read="snowflake")
    assert len(parsed) == 1 and isinstance(parsed[0], exp.Select), "a plain Snowflake SELECT"
    assert query.count("EVENTPIPE.SHARE.") >= 1
    rows = {}
    for consumer in config.consumers:
        rows[consumer.account] = con.execute(query.replace("EVENTPIPE.SHARE.", f"{consumer.local_schema}.")).fetchall()
    assert any(rows.values()), f"no consumer gets a row from:\n{query}"
