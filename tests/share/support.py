"""Helpers for the share's tests: a warehouse with real marts, a simulated Snowflake cursor, config files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest.load import load_interval
from eventpipe.share.simulate import apply_to_state
from eventpipe.share.state import ShareState
from eventpipe.warehouse import connect
from tests.tenant_support import organizations_and_apps, write_colliding_sessions

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 10)
HOURS = 2


def run_dbt(home: Path, logs: Path) -> None:
    """dbt in a subprocess (dbt-duckdb would keep the warehouse open in this process), with its own
    target and log paths so the checkout's dbt_project/target (Cosmos' manifest) is left alone."""
    dbt = Path(sys.executable).with_name("dbt")
    dbt = dbt if dbt.exists() else Path(shutil.which("dbt") or "dbt")
    command = [str(dbt), "build", "--exclude", "tag:ci_only", "--project-dir", str(REPO / "dbt_project"),
               "--profiles-dir", str(REPO / "dbt_project"), "--target-path", str(logs / "target"),
               "--log-path", str(logs), "--no-use-colors"]  # fmt: skip
    env = {**os.environ, "EVENTPIPE_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def build_marts_warehouse(root: Path) -> Path:
    """Generate two hours for 3 organizations, load them and build the marts with dbt; the warehouse's path.

    The first and the third organization (two different consumers in the share tests) also land a
    session each with the same id (tests.tenant_support): the share must keep them apart."""
    home, landing = root / "home", str(root / "home" / "landing")
    truth = generate(landing=landing, start=START, hours=HOURS, orgs=3, sessions_per_hour=3, seed=7,
                     late_fraction=0.0, duplicate_fraction=0.0, malformed_fraction=0.0, files_per_hour=1)  # fmt: skip
    (first, first_app), _, (third, third_app) = organizations_and_apps(truth)
    write_colliding_sessions(landing, (first, third), (first_app, third_app), START)
    con = connect(home / "warehouse.duckdb")
    for hour in range(HOURS):
        load_interval(con, landing, START + timedelta(hours=hour))
    con.close()
    run_dbt(home, root / "dbt")
    return home / "warehouse.duckdb"


def copy_warehouse(source: Path, home: Path) -> Path:
    """A private copy of a built warehouse as ``home``'s warehouse (tests that write never share one)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "warehouse.duckdb"
    shutil.copyfile(source, target)
    return target


def organizations(warehouse: Path) -> list[str]:
    con = connect(warehouse)
    try:
        rows = con.execute("SELECT DISTINCT organization_id FROM marts.fct_sessions ORDER BY 1").fetchall()
        return [row[0] for row in rows]
    finally:
        con.close()


def write_consumers(path: Path, consumers: list[dict], **share) -> Path:
    path.write_text(yaml.safe_dump({"share": share, "consumers": consumers} if share else {"consumers": consumers}))
    return path


class SimulatedSnowflake:
    """A DB-API cursor answering SHOW/SELECT like Snowflake (by column name, extra columns included)
    from a ShareState, and running every other statement through apply_to_state."""

    def __init__(self, state: ShareState, config, inbound_twin: bool = True):
        self.state, self.config, self.executed = state, config, []
        self.description, self._rows = None, []
        self.inbound_twin = inbound_twin

    def execute(self, sql: str):
        self.executed.append(sql)
        s, c = self.state, self.config
        if sql.startswith(("SHOW", "SELECT")):
            columns, rows = self._answer(sql, s, c)
            self.description = [(name, None, None, None, None, None, None) for name in columns]
            self._rows = rows
        else:
            self.state = apply_to_state(self.state, [sql], self.config)
            self.description, self._rows = None, []
        return self

    def fetchall(self):
        return list(self._rows)

    def _answer(self, sql, s, c):
        if sql.startswith("SHOW DATABASES"):
            return ["created_on", "name", "kind"], [("t", c.database, "STANDARD")] if s.database_exists else []
        if sql.startswith("SHOW SCHEMAS"):
            return ["created_on", "name", "database_name"], [("t", n, c.database) for n in sorted(s.schemas)]
        if sql.startswith("SHOW TABLES"):
            return ["created_on", "name", "kind"], [("t", "SHARING_ACCESS", "TABLE")] if s.mapping_table_exists else []
        if sql.startswith("SELECT"):
            return ["ORGANIZATION_ID", "SNOWFLAKE_ACCOUNT", "PII_ALLOWED"], [
                (r.organization_id, r.snowflake_account, r.pii_allowed) for r in s.mapping
            ]
        if sql.startswith("SHOW VIEWS"):
            rows = [
                ("t", name, "", f"eventpipe share view {name}, definition sha256:{fp}" if fp else "", "true")
                for name, fp in s.views.items()
            ]
            return ["created_on", "name", "reserved", "comment", "is_secure"], rows
        if sql.startswith("SHOW SHARES"):
            rows = [("t", "INBOUND", "OTHERORG.PROVIDER", c.name, "X", "", "")] if self.inbound_twin else []
            if s.share_exists:
                to = ", ".join(f"MYORG.{a}" for a in sorted(s.accounts))
                rows.append(("t", "OUTBOUND", "MYORG.PROVIDER", c.name, c.database, to, "ACCOUNTADMIN"))
            return ["created_on", "kind", "owner_account", "name", "database_name", "to", "owner"], rows
        if sql.startswith("SHOW GRANTS TO SHARE"):
            rows = [("t", g.privilege, g.object_type, g.name, "SHARE", c.name) for g in sorted(s.grants)]
            return ["created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name"], rows
        raise AssertionError(f"unexpected query {sql}")
