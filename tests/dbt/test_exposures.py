"""dbt's exposures name what reads the marts outside dbt, and cannot drift from it.

GIVEN the parsed project (its manifest),
THEN every secure view of the Secure Data Share (eventpipe.share.views.VIEWS) has its exposure
(``share_<view>``), which depends on every mart the view selects from: the view's ``mart`` and any
mart its rendered SQL reads; no share exposure is left for a view that is gone;
AND the Activity Explorer's exposure depends on exactly the marts its queries read
(``sql/*/explorer_*.sql`` and the explorer's Python).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from eventpipe.share.views import VIEWS, render_select

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
MARTS_SCHEMA = "marts"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("exposures")
    dbt = Path(sys.executable).with_name("dbt")
    if not dbt.exists():
        dbt = Path(shutil.which("dbt") or "dbt")
    env = {**os.environ, "EVENTPIPE_HOME": str(tmp), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    command = [str(dbt), "parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--no-use-colors"]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads((tmp / "target" / "manifest.json").read_text())


def exposed_marts(manifest: dict, name: str) -> set[str]:
    exposure = manifest["exposures"].get(f"exposure.eventpipe.{name}")
    assert exposure is not None, f"no exposure {name} in dbt_project/models/exposures.yml"
    assert exposure["owner"].get("name") or exposure["owner"].get("email"), name
    assert exposure["description"].strip() and exposure["type"], name
    nodes = exposure["depends_on"]["nodes"]
    assert all(node.startswith("model.eventpipe.") for node in nodes), nodes
    return {node.removeprefix("model.eventpipe.") for node in nodes}


def marts_read_by(sql: str) -> set[str]:
    return {table.name for table in sqlglot.parse_one(sql, read="snowflake").find_all(exp.Table)
            if table.db == MARTS_SCHEMA}  # fmt: skip


def test_every_share_view_has_an_exposure_on_the_marts_it_selects_from(manifest):
    marts = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    for view in VIEWS:
        sql = render_select(view, source_prefix=MARTS_SCHEMA, mapping_table="private.sharing_access", account_sql="'A'")
        read = {view.mart} | marts_read_by(sql)
        assert read <= marts, f"{view.name} reads {read - marts}, which dbt does not build"
        assert read <= exposed_marts(manifest, f"share_{view.name.lower()}"), view.name

    shared = {name.removeprefix("exposure.eventpipe.") for name in manifest["exposures"]}
    stale = {name for name in shared if name.startswith("share_")} - {f"share_{v.name.lower()}" for v in VIEWS}
    assert not stale, f"exposures of share views that no longer exist: {stale}"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


def test_the_activity_explorer_depends_on_exactly_the_marts_its_queries_read(manifest):
    def named(path: Path) -> set[str]:
        return set(re.findall(rf"\b{MARTS_SCHEMA}\.(\w+)", path.read_text()))

    queries = sorted(_package_dir("eventpipe.sql").glob("*/explorer_*.sql"))
    assert queries, "found no explorer_*.sql"
    read = {name for path in queries for name in named(path)}
    # The Python only assembles WHERE / ORDER BY over those queries; a mart it names (a message, a
    # docstring) counts too, but not `marts.py` and the like.
    marts = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    read |= {name for path in _package_dir("eventpipe.explorer").glob("*.py") for name in named(path)} & marts
    assert read, "found no mart in the explorer's queries"
    assert exposed_marts(manifest, "activity_explorer") == read


def test_the_superset_dashboard_depends_on_exactly_the_marts_and_metrics_of_its_bundle(manifest):
    datasets = [yaml.safe_load(path.read_text()) for path in (REPO / "bi" / "dashboards").rglob("datasets/*/*.yaml")]
    assert datasets, "found no dataset in bi/dashboards"
    exposure = manifest["exposures"]["exposure.eventpipe.superset_eventpipe_dashboard"]
    nodes = exposure["depends_on"]["nodes"]
    marts = {node.removeprefix("model.eventpipe.") for node in nodes if node.startswith("model.")}
    metrics = {node.removeprefix("metric.eventpipe.") for node in nodes if node.startswith("metric.")}
    assert marts == {dataset["table_name"] for dataset in datasets}
    assert metrics == {metric for dataset in datasets for metric in dataset["metrics"]}
    assert len(nodes) == len(marts) + len(metrics) and exposure["type"] == "dashboard"


def test_every_public_model_its_columns_and_every_metric_are_described_for_analysts(manifest):
    """`make docs` is the analysts' reference: every mart, column and metric says what it is."""
    public = [node for node in manifest["nodes"].values() if node.get("access") == "public"]
    assert {node["name"] for node in public} >= {"fct_sessions", "agg_app_daily", "fct_audit_events"}
    for node in public:
        assert node["description"].strip(), node["name"]
        assert node["columns"], node["name"]
        for column in node["columns"].values():
            assert column["description"].strip() and column["data_type"], (node["name"], column["name"])
    assert manifest["metrics"], "no metric in the semantic layer"
    for metric in manifest["metrics"].values():
        assert metric["description"].strip() and metric["label"], metric["name"]
