"""share_sync, run for real by Airflow (``dag.test()``) on the local target over a warehouse with real marts.

GIVEN a consumers file mapping the warehouse's 3 organizations to 2 consumer accounts,
WHEN share_sync runs with no parameters, THEN it is a dry run: plan lists the access changes, apply is
skipped and nothing is built or recorded;
WHEN it names a consumer or organization not in the file, THEN check_params fails on its first try (no
retry), naming the allowed values, and nothing else runs;
WHEN it applies scoped to one consumer while the plan also changes the other, THEN apply refuses and
nothing is recorded;
WHEN it runs for real, THEN each consumer's schema exists and shows exactly its organizations' rows,
the state is recorded and a new plan is empty; AND a second run applies nothing.

Airflow runs in a subprocess with its own home (its configuration is fixed when it is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventpipe.orchestrate import airflow_env
from eventpipe.share import VIEWS, parse_config, plan
from eventpipe.share.request import BadParams, SyncRequest, access_changes, format_changes, parse_request
from eventpipe.share.simulate import apply_to_state
from eventpipe.share.state import ShareState
from eventpipe.share.sync import load_consumers, plan_share
from eventpipe.warehouse import connect
from tests.share.support import copy_warehouse, organizations, write_consumers

RUNS = r"""
import json, sys
from datetime import UTC, datetime

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

import os
from airflow.dag_processing.dagbag import DagBag

from eventpipe.orchestrate import airflow_env

airflow_env.ensure_metadata_db()
# This DAG's file only: nothing of event_pipeline (its dbt manifest) is needed to run it.
bag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "share_sync.py"))
assert not bag.import_errors, bag.import_errors
dag = bag.dags["share_sync"]
out = {}
# The first run with no conf (the defaults); then every param explicitly, as the trigger form sends them:
# dag.test() runs reuse one DAG object, whose params keep the previous run's conf (a scheduler builds each
# run from the serialized DAG instead).
consumers = json.loads(sys.argv[2])
every = {"target": "local", "dry_run": False, "consumer": None, "organization": None}
runs = (
    ("default", {}),
    ("bad_consumer", every | {"consumer": "NOPE_INC"}),
    ("bad_organization", every | {"consumer": consumers[0], "organization": "not-an-org-here"}),
    ("guarded", every | {"consumer": consumers[0]}),
    ("dry_run", every | {"dry_run": True}),
    ("apply", every),
    ("again", every),
)
for day, (name, conf) in enumerate(runs, start=1):
    run = dag.test(logical_date=datetime(2026, 3, day, tzinfo=UTC), run_conf=conf)
    with create_session() as session:
        instances = run.get_task_instances(session=session)
        tasks = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in instances}
        tries = {ti.task_id: ti.try_number for ti in instances}
        xcoms = {
            x.task_id: XComModel.deserialize_value(x)
            for x in session.query(XComModel).filter_by(dag_id="share_sync", run_id=run.run_id, key="return_value")
        }
    recorded = os.path.exists(os.path.join(os.environ["EVENTPIPE_HOME"], "share", "state.json"))
    state = str(getattr(run.state, "value", run.state))
    out[name] = {"state": state, "tasks": tasks, "tries": tries, "xcom": xcoms, "recorded": recorded}
with open(sys.argv[1], "w") as sink:
    json.dump(out, sink)
"""


def test_share_sync_runs_plan_then_apply_on_the_local_share(marts_warehouse, tmp_path, monkeypatch):
    home = tmp_path / "home"
    warehouse = copy_warehouse(marts_warehouse, home)
    orgs = organizations(warehouse)
    consumers = write_consumers(
        tmp_path / "consumers.yml",
        [
            {"account": "ACME_ANALYTICS", "organizations": orgs[:2], "pii": False},
            {"account": "GLOBEX_BI", "organizations": orgs[2:], "pii": True},
        ],
    )
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.setenv("EVENTPIPE_SHARE_CONSUMERS", str(consumers))
    env = airflow_env.airflow_environ({**os.environ})
    result_file = tmp_path / "runs.json"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", RUNS, str(result_file), json.dumps(["ACME_ANALYTICS", "GLOBEX_BI"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    logs = result.stdout + result.stderr
    assert result.returncode == 0, logs[-6000:]
    runs = json.loads(result_file.read_text())

    # No parameters: a dry run that shows what would change.
    default = runs["default"]
    assert default["tasks"] == {"check_params": "success", "plan": "success", "apply": "skipped"}, default
    assert default["xcom"]["check_params"] == {
        "target": "local",
        "dry_run": True,
        "consumer": None,
        "organization": None,
    }
    would = default["xcom"]["plan"]["would_change"]
    assert "ACME_ANALYTICS (all): joins the share" in would and "GLOBEX_BI (all): joins the share" in would
    assert {f"ACME_ANALYTICS {org}: gains" for org in orgs[:2]} | {f"GLOBEX_BI {org}: gains" for org in orgs[2:]} < set(
        would
    )
    assert default["recorded"] is False

    # A bad consumer or organization: check_params fails on its first try, nothing else runs, and the log
    # names what is allowed.
    for name in ("bad_consumer", "bad_organization"):
        bad = runs[name]
        assert bad["state"] == "failed", bad
        assert bad["tasks"] == {"check_params": "failed", "plan": "upstream_failed", "apply": "upstream_failed"}
        assert bad["tries"]["check_params"] == 1
    assert "consumer 'NOPE_INC' is not in" in logs and "one of ACME_ANALYTICS, GLOBEX_BI" in logs
    assert (
        f"organization 'not-an-org-here' is not one of consumer ACME_ANALYTICS's organizations: {', '.join(orgs[:2])}"
        in logs
    )

    # Applying scoped to ACME_ANALYTICS while the plan also adds GLOBEX_BI: refused, nothing recorded.
    guarded = runs["guarded"]
    assert guarded["tasks"] == {"check_params": "success", "plan": "success", "apply": "failed"}, guarded
    assert guarded["tries"]["apply"] == 1
    assert "GLOBEX_BI (all): joins the share" in guarded["xcom"]["plan"]["outside_scope"]
    assert "nothing applied: the plan also changes GLOBEX_BI (all): joins the share" in logs
    assert guarded["recorded"] is False

    dry = runs["dry_run"]
    assert dry["tasks"] == {"check_params": "success", "plan": "success", "apply": "skipped"}, dry
    assert dry["xcom"]["plan"]["statements"] > 0 and "apply" not in dry["xcom"]
    assert dry["xcom"]["plan"]["would_change"] == would  # the refused apply changed nothing

    applied = runs["apply"]
    assert applied["state"] == "success", applied
    assert applied["tasks"] == {"check_params": "success", "plan": "success", "apply": "success"}, applied
    assert applied["xcom"]["apply"]["ran"] == dry["xcom"]["plan"]["statements"]  # the dry run changed nothing
    assert applied["xcom"]["apply"]["remaining"] == 0

    again = runs["again"]
    assert again["tasks"] == {"check_params": "success", "plan": "success", "apply": "success"}
    assert again["xcom"]["plan"]["statements"] == 0 and again["xcom"]["apply"]["ran"] == 0
    assert again["xcom"]["plan"]["would_change"] == []

    # What the DAG built, checked here, not taken from its own report.
    _, config = load_consumers()
    assert plan_share(config, "local").statements == []
    con = connect(warehouse)
    try:
        visible = {}
        for consumer in config.consumers:
            mine, visible[consumer.account] = set(consumer.organizations), {}
            for view in VIEWS:
                rows = dict(
                    con.execute(
                        f"SELECT ORGANIZATION_ID, count(*) FROM {consumer.local_schema}.{view.name} GROUP BY 1"
                    ).fetchall()
                )
                assert set(rows) == mine, f"{consumer.account} sees {sorted(rows)} in {view.name}, owns {sorted(mine)}"
                visible[consumer.account][view.name] = sum(rows.values())
    finally:
        con.close()
    assert applied["xcom"]["apply"]["rows"] == visible
    print(f"share_sync: {len(runs)} DAG runs in {seconds:.1f}s; rows visible per consumer: {visible}")


def test_share_sync_file_is_thin(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "dags" / "share_sync.py").read_text()
    assert "airflow" in text and "dag" in text
    # imports of the library happen inside tasks, never at parse time; only the Assets the DAG declares
    # (eventpipe.orchestrate.lineage: names, no I/O) are read when it parses
    header = text.split("def share_sync")[0].replace("from eventpipe.orchestrate.lineage import share_lineage", "")
    assert "import eventpipe" not in header and "from eventpipe" not in header


# ------------------------------------------------------------------------------------ parameters, no Airflow


CONFIG = parse_config(
    {
        "consumers": [
            {"account": "acme_analytics", "organizations": ["org-a", "org-b"]},
            {"account": "GLOBEX_BI", "organizations": ["org-c"], "pii": True},
        ]
    }
)


def test_defaults_are_a_local_dry_run_of_everything():
    assert parse_request({}, CONFIG) == SyncRequest(target="local", dry_run=True, consumer=None, organization=None)
    # the form's empty fields
    assert parse_request({"consumer": "", "organization": None}, CONFIG).consumer is None
    # accounts compare as Snowflake does, case-insensitively
    assert parse_request({"consumer": "Globex_BI", "organization": "org-c"}, CONFIG).consumer == "GLOBEX_BI"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"consumer": "INITECH"}, "consumer 'INITECH' is not in the consumers file: one of ACME_ANALYTICS, GLOBEX_BI"),
        ({"organization": "org-z"}, "organization 'org-z' is not one of the organizations in the consumers file:"),
        ({"consumer": "GLOBEX_BI", "organization": "org-a"}, "is not one of consumer GLOBEX_BI's organizations: org-c"),
        ({"target": "prod"}, "target 'prod' is not allowed: one of local, snowflake"),
        ({"dry_run": "no"}, "dry_run 'no' must be true or false"),
        ({"destination": "x"}, "unknown parameter(s) destination: allowed are target, dry_run, consumer, organization"),
    ],
)  # fmt: skip
def test_a_bad_parameter_names_what_is_allowed(params, says):
    with pytest.raises(BadParams) as refused:
        parse_request(params, CONFIG)
    assert says in str(refused.value)


def test_access_changes_and_scope():
    fresh = access_changes(ShareState(), CONFIG)
    assert [(c.account, c.organization, c.change) for c in fresh] == [
        ("ACME_ANALYTICS", None, "joins the share"),
        ("ACME_ANALYTICS", "org-a", "gains"),
        ("ACME_ANALYTICS", "org-b", "gains"),
        ("GLOBEX_BI", None, "joins the share"),
        ("GLOBEX_BI", "org-c", "gains"),
    ]
    # from the state the plan leads to, nothing changes
    done = apply_to_state(ShareState(), plan(ShareState(), CONFIG), CONFIG)
    assert access_changes(done, CONFIG) == []
    # the file then moves org-b to GLOBEX_BI and masks GLOBEX_BI's PII
    moved = parse_config(
        {
            "consumers": [
                {"account": "ACME_ANALYTICS", "organizations": ["org-a"]},
                {"account": "GLOBEX_BI", "organizations": ["org-b", "org-c"], "pii": False},
            ]
        }
    )
    changes = access_changes(done, moved)
    assert [(c.account, c.organization, c.change) for c in changes] == [
        ("ACME_ANALYTICS", "org-b", "loses"),
        ("GLOBEX_BI", "org-b", "gains"),
        ("GLOBEX_BI", "org-c", "PII masked"),
    ]
    scoped = parse_request({"organization": "org-b"}, moved)
    assert [c.change for c in changes if not c.in_scope(scoped)] == ["PII masked"]
    assert "outside consumer/organization of this run" in format_changes(changes, scoped)
