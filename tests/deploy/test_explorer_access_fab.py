"""The Activity Explorer behind the FAB auth manager, as docker-compose.yml runs it: a real ``airflow api-server``
(one for the module) with users and roles in a temporary SQLite metadata database, on a hand-written DuckDB
warehouse of two organizations that share a session id.

- without the ``Activity Explorer`` permission (a Viewer): 403 on the page and on every API route; not signed in: 401;
- Admin (granted by ``python -m eventpipe.orchestrate.explorer_access grant``, as airflow-init does): everything;
- a user limited to ``org:org-a`` never sees a row of ``org-b``, whatever filter, session path or facet it asks for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from eventpipe import settings
from eventpipe.local import up
from tests.e2e.support import free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow]  # one api-server for the module: about a minute

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
START = datetime(2026, 11, 26, 10)
# organization -> (app, service, session ids); both organizations use the session id "shared"
ORGS = {"org-a": ("app-a", "svc-a", ["shared", "a1", "a2"]), "org-b": ("app-b", "svc-b", ["shared", "b1"])}
USERS = {"admin": "Admin", "viewer": "Viewer", "analyst": "Viewer"}
# Users, roles and the permission, the way an operator sets them: FAB's security manager in one process.
SETUP = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
from eventpipe.orchestrate import explorer_access

users = json.loads(sys.argv[1])
explorer_access.grant(["Admin", "Explorer"])
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    org_a = sm.find_role("org:org-a") or sm.add_role("org:org-a")
    for name, role in users.items():
        roles = [sm.find_role(role)] + ([sm.find_role("Explorer"), org_a] if name == "analyst" else [])
        assert sm.add_user(name, name, "user", f"{name}@example.com", roles, password=f"{name}-password")
"""


def build_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema ops")
        con.execute(
            "create table marts.fct_sessions (organization_id varchar, session_id varchar, branch_id varchar,"
            " deploy_id varchar, status varchar, last_event_at timestamp, started_at timestamp, ended_at timestamp,"
            " action_runs integer, action_errors integer, runtime_errors integer, messages_sent integer,"
            " messages_received integer, app_id varchar, device_class varchar, duration_ms bigint,"
            " csat_score double, event_count integer, is_closed boolean)"
        )
        con.execute(
            "create table marts.fct_session_events (event_id varchar, organization_id varchar, session_id varchar,"
            " event_type varchar, event_time timestamp, action_name varchar, status varchar, code varchar,"
            " message varchar, custom_metric_key varchar, custom_metric_field varchar, duration_millis bigint,"
            " _batch_id varchar)"
        )
        con.execute(
            "create table marts.fct_custom_metric_values (event_id varchar, value_number double, value_text varchar)"
        )
        con.execute(
            "create table ops.load_batch (batch_id varchar, dag_id varchar, run_id varchar, interval_start timestamp)"
        )
        con.execute(
            "create table marts.fct_platform_events (organization_id varchar, service varchar, status varchar,"
            " event_time timestamp)"
        )
        for org, (app, service, sessions) in ORGS.items():
            for n, session in enumerate(sessions):
                at = START + timedelta(minutes=n)
                con.execute(
                    "insert into marts.fct_sessions values (?, ?, 'main', 'd1', 'closed', ?, ?, ?, 1, 0, 0, 1, 1, ?,"
                    " 'desktop', 60000, null, 2, true)",
                    [org, session, at, at, at, app],
                )
                con.execute(
                    "insert into marts.fct_session_events values (?, ?, ?, 'session_start', ?, null, null, null,"
                    " null, null, null, null, 'b1')",
                    [f"{org}-{session}", org, session, at],
                )
            con.execute("insert into marts.fct_platform_events values (?, ?, 'error', ?)", [org, service, START])


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    """(base URL, tokens by user name) of one api-server with the FAB auth manager and the project's plugins."""
    home = tmp_path_factory.mktemp("fab_access")
    build_warehouse(home / "warehouse.duckdb")
    port = free_port()
    env = dict(os.environ)
    env.pop("EVENTPIPE_LANDING", None)
    env |= {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__AUTH_MANAGER": FAB,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret-of-this-module-only",
        "AIRFLOW__API__SECRET_KEY": "test-api-secret-of-this-module-only",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "EVENTPIPE_HOME": str(home),
        "EVENTPIPE_TARGET": "duckdb",
    }
    (home / "dags").mkdir()
    run = {"env": env, "capture_output": True, "text": True, "timeout": 600}
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], **run)
    assert migrated.returncode == 0, migrated.stderr[-4000:]
    created = subprocess.run([sys.executable, "-c", SETUP, json.dumps(USERS)], **run)
    assert created.returncode == 0, created.stderr[-4000:]
    log = (home / "api-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (home / "api-server.log").read_text()[-4000:]
            try:
                urllib.request.urlopen(f"{base_url}/api/v2/version", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (home / "api-server.log").read_text()[-4000:]
                time.sleep(1)
        tokens = {name: up.access_token(base_url, name, f"{name}-password") for name in USERS}
        yield base_url, tokens
    finally:
        up.stop(server)
        log.close()


def call(base_url: str, path: str, token: str | None, body: dict | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(raw) if kind.startswith("application/json") else raw.decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


ROUTES = [
    ("/explorer/", None),
    ("/explorer/api/columns", None),
    ("/explorer/api/journeys/search", {}),
    ("/explorer/api/sessions/org-a/shared", None),
    ("/explorer/api/charts", None),
    ("/explorer/api/range", None),
    ("/explorer/api/facets/organization", None),
]


def test_a_viewer_without_the_permission_gets_403_everywhere(api_server):
    base_url, tokens = api_server
    for path, body in ROUTES:
        status, detail = call(base_url, path, tokens["viewer"], body)
        assert status == 403, (path, status, detail)
        assert "Activity Explorer" in detail
        assert call(base_url, path, None, body)[0] == 401, path


def test_admin_sees_every_organization(api_server):
    base_url, tokens = api_server
    status, page = call(base_url, "/explorer/", tokens["admin"])
    assert status == 200 and "<html" in page.lower()
    status, journeys = call(base_url, "/explorer/api/journeys/search", tokens["admin"], {})
    assert status == 200
    assert sorted((row["organization"], row["journey_id"]) for row in journeys["rows"]) == sorted(
        (org, session) for org, (_, _, sessions) in ORGS.items() for session in sessions
    )
    assert call(base_url, "/explorer/api/sessions/org-b/shared", tokens["admin"])[0] == 200


def test_a_user_limited_to_one_organization_never_sees_another(api_server):
    base_url, tokens = api_server
    token = tokens["analyst"]
    assert call(base_url, "/explorer/", token)[0] == 200
    status, journeys = call(base_url, "/explorer/api/journeys/search", token, {})
    assert status == 200
    assert sorted(row["journey_id"] for row in journeys["rows"]) == sorted(ORGS["org-a"][2])
    assert {row["organization"] for row in journeys["rows"]} == {"org-a"}
    # Asking for org-b by filter, by session path or through the facets finds nothing of it.
    wants_b = {"filters": [{"column": "organization", "op": "equals", "value": "org-b"}]}
    status, filtered = call(base_url, "/explorer/api/journeys/search", token, wants_b)
    assert status == 200 and filtered["total"] == 0 and filtered["rows"] == []
    assert call(base_url, "/explorer/api/sessions/org-b/shared", token)[0] == 404
    assert call(base_url, "/explorer/api/sessions/org-b/b1", token)[0] == 404
    status, own = call(base_url, "/explorer/api/sessions/org-a/shared", token)
    assert status == 200 and [event["event_id"] for event in own["events"]] == ["org-a-shared"]
    status, facet = call(base_url, "/explorer/api/facets/organization", token)
    assert status == 200 and [value["value"] for value in facet["values"]] == ["org-a"]
    status, facet = call(base_url, "/explorer/api/facets/app", token)
    assert status == 200 and [value["value"] for value in facet["values"]] == ["app-a"]
    # The charts and the range: org-a's sessions, apps and services only.
    status, charts = call(base_url, "/explorer/api/charts", token)
    assert status == 200
    assert [app["app"] for app in charts["apps"]] == ["app-a"]
    assert [service["service"] for service in charts["services"]] == ["svc-a"]
    assert sum(point["sessions_started"] for point in charts["sessions_over_time"]) == len(ORGS["org-a"][2])
    status, data_range = call(base_url, "/explorer/api/range", token)
    assert status == 200 and data_range["sessions"] == len(ORGS["org-a"][2])
