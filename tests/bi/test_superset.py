"""Apache Superset (bi/, its own environment) on the marts: the dashboard bundle's figures are the marts'.

GIVEN a warehouse with built marts (tests/conftest.py `marts_warehouse`, a private copy) and the readers' snapshot
published from it, as the transform DAG does,
WHEN `bi/eventpipe_bi.py setup` imports the dashboard bundle and `serve` starts Superset on 127.0.0.1,
THEN Superset's chart-data API answers every chart of the dashboard with the marts' figures (each computed here
independently from the marts: agg_app_daily, agg_platform_daily, fct_sessions, fct_audit_events); its queries are
not refused while the pipeline writes the warehouse and republishes the snapshot; and the dashboard renders in
Chromium with no chart in error (a screenshot in test-artifacts/, docs/img/ with EVENTPIPE_UPDATE_SCREENSHOT=1).

Superset must be installed in bi/.venv (`make bi-env`, which `make test` runs): without it this test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import requests

from eventpipe.warehouse import read_snapshot
from tests.explorer.ui_support import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, screenshot
from tests.share.support import copy_warehouse

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BI_PYTHON = REPO / "bi" / ".venv" / "bin" / "python"
BI_SCRIPT = REPO / "bi" / "eventpipe_bi.py"
CHARTS = {"Sessions per hour", "Completion rate and CSAT by app", "Platform error rate by service",
          "Audit events by type"}  # fmt: skip


class Superset:
    def __init__(self, base_url: str, home: Path):
        self.base_url, self.home = base_url, home
        password = (home / "bi" / "admin_password").read_text().strip()
        credentials = {"username": "admin", "password": password, "provider": "db", "refresh": False}
        login = requests.post(f"{base_url}/api/v1/security/login", json=credentials, timeout=30)
        login.raise_for_status()
        self.password = password
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", params=params, timeout=120)

    def charts(self) -> dict[str, int]:
        response = self.get("/api/v1/dashboard/eventpipe/charts")
        response.raise_for_status()
        return {chart["slice_name"]: chart["id"] for chart in response.json()["result"]}

    def chart_rows(self, chart_id: int, force: bool = False) -> list[dict]:
        response = self.get(f"/api/v1/chart/{chart_id}/data/", **({"force": "true"} if force else {}))
        assert response.status_code == 200, response.text[:2000]
        (result,) = response.json()["result"]
        assert result["status"] == "success" and not result["error"], result
        return result["data"]


@pytest.fixture(scope="module")
def superset(tmp_path_factory, marts_warehouse: Path):
    if not BI_PYTHON.exists():
        pytest.fail("Superset is not installed in bi/.venv: `make bi-env` (make test runs it)")
    home = tmp_path_factory.mktemp("bi_home")
    copy_warehouse(marts_warehouse, home)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        read_snapshot.publish(con, home / "readers" / "read_snapshot.duckdb")
    env = {**os.environ, "EVENTPIPE_HOME": str(home)}
    started = time.monotonic()
    setup = subprocess.run([str(BI_PYTHON), str(BI_SCRIPT), "setup"], env=env, capture_output=True, text=True,
                           timeout=400, check=False)  # fmt: skip
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-5000:]
    port = free_port()
    log = (home / "superset_server.log").open("w")
    server = subprocess.Popen([str(BI_PYTHON), str(BI_SCRIPT), "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (home / "superset_server.log").read_text()[-5000:]
            try:
                # (the first request waits for the worker to load Superset)
                if requests.get(f"{base_url}/health", timeout=60).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline, "Superset did not answer /health in 120 s"
            time.sleep(1)
        print(f"Superset set up and serving in {time.monotonic() - started:.0f} s")
        yield Superset(base_url, home)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def marts(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def approx(rows) -> dict:
    return {key: tuple(None if v is None else pytest.approx(float(v)) for v in values) for key, values in rows}


def test_every_chart_of_the_dashboard_answers_the_marts_figures(superset: Superset) -> None:
    charts = superset.charts()
    assert set(charts) == CHARTS
    home = superset.home

    hourly = superset.chart_rows(charts["Sessions per hour"])
    expected = marts(home, "select date_trunc('hour', started_at), count(*) from marts.fct_sessions group by 1")
    assert len(expected) >= 2
    hour = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)  # noqa: E731
    assert {hour(r["started_at"]): r["sessions"] for r in hourly} == dict(expected)

    quality = superset.chart_rows(charts["Completion rate and CSAT by app"])
    sessions = {(org, app): (started, rate) for org, app, started, rate in marts(home, """
        select organization_id, app_id, sum(sessions_started), sum(sessions_completed) / sum(sessions_started)
        from marts.agg_app_daily group by 1, 2""")}  # fmt: skip
    csat = {
        (org, app): (average, responses)
        for org, app, average, responses in marts(
            home,
            """
        select organization_id, app_id, avg(csat_score), count(csat_score) from marts.fct_sessions group by 1, 2""",
        )
    }
    assert any(responses for _, responses in csat.values())
    assert approx(((r["organization_id"], r["app_id"]), (r["sessions"], r["completion_rate"], r["csat_average"],
                   r["csat_responses"])) for r in quality) == approx(
        (key, (*sessions[key], *csat[key])) for key in sessions
    )  # fmt: skip

    errors = superset.chart_rows(charts["Platform error rate by service"])
    expected = marts(
        home,
        """
        select service, organization_id, sum(errors) / sum(events) from marts.agg_platform_daily group by 1, 2""",
    )
    assert any(rate for _, _, rate in expected)
    assert approx(((r["service"], r["organization_id"]), (r["platform_error_rate"],)) for r in errors) == approx(
        ((service, org), (rate,)) for service, org, rate in expected
    )

    audit = superset.chart_rows(charts["Audit events by type"])
    expected = marts(home, "select event_type, organization_id, count(*) from marts.fct_audit_events group by 1, 2")
    assert len(expected) >= 3
    assert {(r["event_type"], r["organization_id"]): r["audit_events"] for r in audit} == {
        (event_type, org): count for event_type, org, count in expected
    }


def test_no_chart_query_is_refused_while_the_pipeline_writes(superset: Superset) -> None:
    """The pipeline's writes (a write transaction on the warehouse, then the snapshot republished: written beside
    it and renamed over it) go on in a thread while every chart is asked again and again, uncached."""
    home, charts = superset.home, superset.charts()
    stop, writes = threading.Event(), []

    def pipeline() -> None:
        with duckdb.connect(str(home / "warehouse.duckdb")) as con:
            while not stop.is_set():
                con.execute("create or replace table ops.bi_probe as select range as n from range(200000)")
                read_snapshot.publish(con, home / "readers" / "read_snapshot.duckdb")
                writes.append(time.monotonic())

    writer = threading.Thread(target=pipeline)
    writer.start()
    asked, refused = 0, []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for name, chart_id in charts.items():
                response = superset.get(f"/api/v1/chart/{chart_id}/data/", force="true")
                asked += 1
                json_body = response.headers.get("content-type", "").startswith("application/json")
                body = response.json() if json_body else {}
                if response.status_code != 200 or any(r.get("error") for r in body.get("result", [])):
                    refused.append((name, response.status_code, response.text[:300]))
    finally:
        stop.set()
        writer.join()
    print(f"chart queries during writes: {asked} asked, {len(refused)} refused; {len(writes)} snapshots published")
    assert len(writes) >= 3 and asked >= 8
    assert refused == []


@pytest.mark.browser
def test_the_dashboard_renders_every_chart_in_chromium(superset: Superset) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.goto(f"{superset.base_url}/login/")
            page.fill("#username", "admin")
            page.fill("#password", superset.password)
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)
            page.goto(f"{superset.base_url}/superset/dashboard/eventpipe/?standalone=1")
            page.locator(".dashboard-chart").first.wait_for(timeout=60_000)
            for name in CHARTS:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            page.wait_for_function(
                "document.querySelectorAll('.dashboard-chart canvas, .dashboard-chart table').length >= 4",
                timeout=90_000,
            )
            page.wait_for_timeout(1500)  # the charts' entry animation
            assert page.locator(".dashboard-chart .ant-alert-error, .dashboard-chart [role=alert]").count() == 0
            screenshot(page, "superset-dashboard", readme="superset-dashboard")
        finally:
            browser.close()
