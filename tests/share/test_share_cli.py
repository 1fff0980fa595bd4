"""``eventpipe share plan|apply``: the commands a user runs, end to end on the local target.

GIVEN the example consumers file and an empty recorded state,
THEN ``share plan`` prints a Snowflake script that sqlglot parses statement by statement and that
covers the six secure views, the CURRENT_ACCOUNT() filter through the mapping table, the masking of
EMAIL, the share, its grants and its accounts;
AND GIVEN a warehouse with real marts, ``share apply`` builds one schema per consumer whose views show
exactly that consumer's organizations' rows, records the state, and the next plan is empty; editing
the consumers file then plans exactly the golden diffs (add / remove consumer, add org, grant PII);
AND the snowflake target applies through a cursor and fails when a statement did not take effect.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from eventpipe import cli
from eventpipe.share import VIEWS, ShareState, load_config, plan
from eventpipe.share.local import PRIVATE_SCHEMA
from eventpipe.share.sync import ShareSyncError, apply_share, plan_share, state_path
from eventpipe.warehouse import connect
from tests.share.support import SimulatedSnowflake, copy_warehouse, organizations, write_consumers

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLE = REPO / "config" / "consumers.example.yml"

# The consumers of the golden scenarios (tests/share/test_share.py: SCENARIOS).
ACME = {"account": "ACME_ANALYTICS", "organizations": ["org-a1", "org-a2"], "pii": False}
GLOBEX = {"account": "GLOBEX_BI", "organizations": ["org-g1"], "pii": True}
INITECH = {"account": "INITECH_DATA", "organizations": ["org-i1"], "pii": False}


def share(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["share", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(eventpipe_home, monkeypatch) -> Path:
    monkeypatch.delenv("EVENTPIPE_SHARE_CONSUMERS", raising=False)
    return eventpipe_home


@pytest.fixture
def home_with_marts(home, marts_warehouse) -> Path:
    copy_warehouse(marts_warehouse, home)
    return home


def statements_of(script: str) -> list[exp.Expression]:
    parsed = [tree for tree in sqlglot.parse(script, read="snowflake") if tree is not None]
    assert len(parsed) == script.count(";\n"), "one parsed statement per ';'"
    return parsed


def test_plan_of_the_example_file_is_valid_snowflake_sql_covering_views_filter_and_masking(home, capsys):
    code, out, err = share(capsys, "plan")  # default consumers file: config/consumers.example.yml
    assert code == 0 and "consumers.example.yml" in err and "stands in for the Snowflake account" in err
    parsed = statements_of(out)
    views = {tree.this.this.name: tree for tree in parsed if isinstance(tree, exp.Create) and tree.kind == "VIEW"}
    assert set(views) == {view.name for view in VIEWS}
    for name, tree in views.items():
        assert exp.SecureProperty in {type(p) for p in tree.args["properties"].expressions}, name
        join = tree.expression.find(exp.Join)
        assert join.this.sql(dialect="snowflake") == "EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS AS sa", name
        where = tree.expression.args["where"].this
        assert (
            isinstance(where, exp.EQ) and where.sql(dialect="snowflake") == "sa.snowflake_account = CURRENT_ACCOUNT()"
        )
    audit = views["AUDIT_EVENT"].expression
    email = next(s for s in audit.expressions if s.alias_or_name == "EMAIL")
    assert email.find(exp.Case) is not None and "sa.pii_allowed" in email.sql() and "'***MASKED***'" in email.sql()
    assert "'***MASKED***'" not in views["SESSION_EVENT"].sql()  # only PII columns are masked
    lines = out.splitlines()
    example = load_config(EXAMPLE)
    assert (
        "CREATE SHARE EVENTPIPE_SHARE COMMENT = 'eventpipe: per-consumer secure views (docs/querying-the-share.md)';"
        in lines
    )
    for view in VIEWS:
        assert f"GRANT SELECT ON VIEW EVENTPIPE_SHARE.SHARE.{view.name} TO SHARE EVENTPIPE_SHARE;" in lines
    assert lines[-1] == f"ALTER SHARE EVENTPIPE_SHARE ADD ACCOUNTS = {', '.join(c.account for c in example.consumers)};"
    inserted = set(re.findall(r"\('([^']+)', '([A-Z_]+)', (?:TRUE|FALSE)\)", out))
    assert inserted == {(o, c.account) for c in example.consumers for o in c.organizations}


def test_the_installed_command_prints_the_same_plan(home, capsys):
    """The console script, in a process of its own (stdout is the script, stderr the commentary)."""
    script = Path(sys.executable).with_name("eventpipe")
    env = {**os.environ, "EVENTPIPE_HOME": str(home)}
    env.pop("EVENTPIPE_SHARE_CONSUMERS", None)
    result = subprocess.run([str(script), "share", "plan"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == share(capsys, "plan")[1] and result.stdout.startswith("CREATE DATABASE")
    assert "statement(s) would bring the local share" in result.stderr


def test_golden_diffs_through_the_cli_and_nothing_after_apply(home_with_marts, tmp_path, capsys):
    consumers = tmp_path / "consumers.yml"

    def plan_of(entries) -> str:
        write_consumers(consumers, entries)
        code, out, _ = share(capsys, "plan", "--consumers", str(consumers))
        assert code == 0
        return out

    assert plan_of([ACME, GLOBEX]) == (GOLDEN / "plan_from_empty.sql").read_text()
    code, applied, err = share(capsys, "apply", "--consumers", str(consumers))
    assert code == 0, err
    assert applied == (GOLDEN / "plan_from_empty.sql").read_text()  # apply prints what it ran
    code, out, err = share(capsys, "plan", "--consumers", str(consumers))
    assert (code, out) == (0, "") and "No changes" in err
    # Edits to the file plan exactly the golden diffs from the applied state (the file is not applied).
    assert plan_of([ACME, GLOBEX, INITECH]) == (GOLDEN / "plan_add_consumer.sql").read_text()
    assert plan_of([ACME]) == (GOLDEN / "plan_remove_consumer.sql").read_text()
    assert (
        plan_of([{**ACME, "organizations": ["org-a1", "org-a2", "org-a3"]}, GLOBEX])
        == (GOLDEN / "plan_add_org.sql").read_text()
    )
    assert plan_of([{**ACME, "pii": True}, GLOBEX]) == (GOLDEN / "plan_grant_pii.sql").read_text()
    # Apply one of them; then nothing, and applying again runs nothing.
    write_consumers(consumers, [ACME, GLOBEX, INITECH])
    assert share(capsys, "apply", "--consumers", str(consumers))[1] == (GOLDEN / "plan_add_consumer.sql").read_text()
    assert share(capsys, "plan", "--consumers", str(consumers))[1] == ""
    code, out, err = share(capsys, "apply", "--consumers", str(consumers))
    assert (code, out) == (0, "") and "applied 0 statement(s)" in err
    recorded = json.loads(state_path().read_text())
    assert recorded["state"]["accounts"] == ["ACME_ANALYTICS", "GLOBEX_BI", "INITECH_DATA"]
    assert recorded["consumers_file"] == str(consumers)


def test_apply_builds_an_isolated_local_share_and_reports_rows_per_consumer(home_with_marts, tmp_path, capsys):
    warehouse = home_with_marts / "warehouse.duckdb"
    orgs = organizations(warehouse)
    assert len(orgs) == 3
    consumers = write_consumers(
        tmp_path / "consumers.yml",
        [
            {"account": "ACME_ANALYTICS", "organizations": orgs[:2], "pii": False},
            {"account": "GLOBEX_BI", "organizations": orgs[2:], "pii": True},
        ],
    )
    code, _, err = share(capsys, "apply", "--consumers", str(consumers))
    assert code == 0, err
    con = connect(warehouse)
    try:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        assert {"share_acme_analytics", "share_globex_bi", PRIVATE_SCHEMA} <= schemas
        for schema, mine in (("share_acme_analytics", orgs[:2]), ("share_globex_bi", orgs[2:])):
            for view in VIEWS:
                seen = dict(
                    con.execute(f"SELECT ORGANIZATION_ID, count(*) FROM {schema}.{view.name} GROUP BY 1").fetchall()
                )
                assert set(seen) == set(mine), f"{schema}.{view.name} shows {sorted(seen)}, owns {mine}"
                # what the CLI reported is what the consumer sees
                reported = next(line for line in err.splitlines() if line.startswith(schema[6:].upper()))
                assert f"{sum(seen.values()):,}" in reported.split()
        masked = con.execute(
            "SELECT count(*) FILTER (EMAIL = '***MASKED***'), count(*) FILTER (EMAIL LIKE '%@%')"
            " FROM share_acme_analytics.AUDIT_EVENT"
        ).fetchone()
        clear = con.execute("SELECT count(*) FILTER (EMAIL LIKE '%@%') FROM share_globex_bi.AUDIT_EVENT").fetchone()
        assert masked[0] > 0 and masked[1] == 0 and clear[0] > 0
    finally:
        con.close()


def test_apply_without_marts_fails_clearly_and_records_nothing(home, capsys):
    code, out, err = share(capsys, "apply")
    assert code == 2 and out == ""
    assert "has no marts.fct_audit_events" in err and "eventpipe run" in err
    assert not state_path().exists()


def test_a_state_file_for_another_share_plans_this_one_from_empty(home, tmp_path, capsys):
    consumers = write_consumers(tmp_path / "c.yml", [ACME, GLOBEX])
    state_path().parent.mkdir(parents=True)
    state_path().write_text(json.dumps({"version": 1, "names": {"name": "OTHER"}, "state": {}}))
    code, out, err = share(capsys, "plan", "--consumers", str(consumers))
    assert code == 0 and out == (GOLDEN / "plan_from_empty.sql").read_text() and "records another share" in err
    state_path().write_text("{not json")
    code, out, err = share(capsys, "plan", "--consumers", str(consumers))
    assert code == 2 and out == "" and "cannot read the recorded share state" in err


def test_unsafe_consumers_file_is_refused_before_anything_runs(home, tmp_path, capsys):
    consumers = write_consumers(tmp_path / "c.yml", [{"account": "ACME; DROP SHARE X", "organizations": ["o"]}])
    code, out, err = share(capsys, "apply", "--consumers", str(consumers))
    assert code == 2 and out == "" and "'ACME; DROP SHARE X' is not a plain identifier" in err
    assert not state_path().exists()


def test_snowflake_target_applies_through_a_cursor_then_plans_nothing():
    config = load_config(EXAMPLE)
    cursor = SimulatedSnowflake(ShareState(), config)
    assert plan_share(config, "snowflake", cursor=cursor).statements == plan(ShareState(), config)
    applied = apply_share(config, EXAMPLE, "snowflake", cursor=cursor)
    assert applied.ran == plan(ShareState(), config) and applied.remaining == []
    assert apply_share(config, EXAMPLE, "snowflake", cursor=cursor).ran == []


def test_snowflake_apply_fails_when_a_statement_did_not_take_effect():
    """An account that silently ignores the accounts statement: the re-plan is not empty, apply fails."""
    config = load_config(EXAMPLE)

    class Forgetful(SimulatedSnowflake):
        def execute(self, sql):
            if sql.startswith("ALTER SHARE"):
                self.executed.append(sql)
                return self
            return super().execute(sql)

    with pytest.raises(ShareSyncError, match=r"1 statement\(s\) still planned.*\nALTER SHARE EVENTPIPE_SHARE ADD"):
        apply_share(config, EXAMPLE, "snowflake", cursor=Forgetful(ShareState(), config))


def test_snowflake_target_without_credentials_says_what_to_set(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "AIRFLOW"))}
    env["EVENTPIPE_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", "eventpipe.cli", "share", "plan", "--target", "snowflake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "no Snowflake credentials for the share: define the Airflow Connection snowflake_<job>" in result.stderr
    assert all(name in result.stderr for name in ("snowflake_share", "snowflake_default", "SNOWFLAKE_ACCOUNT"))
    assert "Traceback" not in result.stderr


def test_a_private_key_from_the_environment_is_converted_and_never_echoed():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from eventpipe.warehouse.connections import SnowflakeCredentialsError, der_private_key

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ).decode()
    der = der_private_key(pem, "pw")
    assert serialization.load_der_private_key(der, None).private_numbers() == key.private_numbers()
    broken = pem.replace(pem.splitlines()[3], "A" * 64)
    with pytest.raises(SnowflakeCredentialsError) as error:
        der_private_key(broken, "pw")
    assert "AAAA" not in str(error.value) and "BEGIN" not in str(error.value)


def test_the_example_consumers_are_the_demos_organizations(tmp_path):
    """So that `eventpipe demo` then `eventpipe share apply` shows every example consumer real rows."""
    from datetime import datetime

    from eventpipe.devtools.generate.landing import generate

    # the demo's organizations and seed (eventpipe.cli.cmd_demo)
    truth = generate(landing=str(tmp_path), start=datetime(2026, 11, 26), hours=1, orgs=3, sessions_per_hour=2, seed=7)
    generated = {key.split("|")[0] for key in truth.app_daily}
    example = load_config(EXAMPLE)
    assert {org for consumer in example.consumers for org in consumer.organizations} == generated


def test_plan_notices_a_local_share_missing_from_the_warehouse(home_with_marts, tmp_path, capsys):
    consumers = write_consumers(tmp_path / "c.yml", [ACME, GLOBEX])
    assert share(capsys, "apply", "--consumers", str(consumers))[0] == 0
    assert "lacks" not in share(capsys, "plan", "--consumers", str(consumers))[2]
    con = connect(home_with_marts / "warehouse.duckdb")
    con.execute("DROP SCHEMA share_globex_bi CASCADE")
    con.close()
    code, out, err = share(capsys, "plan", "--consumers", str(consumers))
    # the recorded state (the account) is unchanged, so no statement; the local replica is reported
    assert (code, out) == (0, "") and "local DuckDB share lacks share_globex_bi.SESSION_EVENT" in err
    share(capsys, "apply", "--consumers", str(consumers))
    assert "lacks" not in share(capsys, "plan", "--consumers", str(consumers))[2]


def test_help_says_the_local_state_stands_in_for_the_account(capsys):
    with pytest.raises(SystemExit):
        cli.main(["share", "plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "STANDS IN FOR THE ACCOUNT" in text and "$EVENTPIPE_HOME/share/state.json" in text
    assert "No statement is sent to Snowflake" in text
