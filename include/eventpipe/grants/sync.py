"""Plan and apply the roles' grants on a target: what ``eventpipe grants plan|apply`` runs.

- ``snowflake``: a real account, read live (``read_state``: SHOW ROLES, SHOW SCHEMAS, SHOW GRANTS TO ROLE,
  SHOW FUTURE GRANTS TO ROLE) as the admin identity: the Airflow Connection ``snowflake_admin``, else
  ``snowflake_default``, else ``SNOWFLAKE_*`` variables, with a role that may create roles and manage grants
  (SECURITYADMIN and SYSADMIN, or one role holding both). ``apply`` runs the plan, reads again and plans again:
  nothing may remain but grants waiting for a table that does not exist yet.
- ``local`` (the embedded default; there is no Snowflake account here): a recorded state file,
  ``$EVENTPIPE_HOME/grants/state.json``, stands in for the account, as for the share. ``apply`` records the state
  the statements lead to. DuckDB has no roles: nothing else changes locally.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventpipe import settings
from eventpipe.grants.planner import GrantState, after, plan, waiting
from eventpipe.grants.roles import ON_TABLES, ON_VIEWS, READER_OPS_TABLE, GrantsConfig, RoleGrant, desired


class GrantsError(RuntimeError):
    """A condition the user must fix (missing credentials, a bad state file, a plan that does not converge)."""


@dataclass
class Planned:
    statements: list[str]
    waiting: list[RoleGrant]


def state_path() -> Path:
    return settings.eventpipe_home() / "grants" / "state.json"


def read_local_state(path: Path | None = None) -> GrantState:
    path = path or state_path()
    if not path.exists():
        return GrantState()
    try:
        data = json.loads(path.read_text())
        return GrantState(
            roles=frozenset(data["roles"]),
            database_exists=bool(data["database_exists"]),
            schemas=frozenset(data["schemas"]),
            tables=frozenset(data["tables"]),
            grants=frozenset(RoleGrant(*row) for row in data["grants"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise GrantsError(f"{path}: not a grants state file ({type(error).__name__}: {error})") from None


def write_local_state(state: GrantState, path: Path | None = None) -> Path:
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "roles": sorted(state.roles),
        "database_exists": state.database_exists,
        "schemas": sorted(state.schemas),
        "tables": sorted(state.tables),
        "grants": [[g.role, g.privilege, g.on, g.name] for g in sorted(state.grants)],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def read_state(cursor: Any, config: GrantsConfig) -> GrantState:
    """The account's roles and their grants, through any DB-API cursor. A grant on one table is kept as such
    only when it is not covered by a wanted grant on every table of its schema (what an ``ALL`` grant left):
    anything else held on a table (an INSERT given by hand) is planned for a revoke."""
    roles = frozenset(r for r in config.roles if _rows(cursor, f"SHOW ROLES LIKE '{r}'"))
    database_exists = bool(_rows(cursor, f"SHOW DATABASES LIKE '{config.database}'"))
    schemas: frozenset[str] = frozenset()
    tables: frozenset[str] = frozenset()
    if database_exists:
        schemas = frozenset(
            config.schema(row["name"].upper()) for row in _rows(cursor, f"SHOW SCHEMAS IN DATABASE {config.database}")
        )
        ops = config.schema("OPS")
        if ops in schemas:
            found = _rows(cursor, f"SHOW TABLES LIKE '{READER_OPS_TABLE}' IN SCHEMA {ops}")
            tables = frozenset(f"{ops}.{row['name'].upper()}" for row in found)
    wanted = desired(config)
    grants: set[RoleGrant] = set()
    for role in sorted(roles):
        for row in _rows(cursor, f"SHOW GRANTS TO ROLE {role}"):
            privilege, on = row["privilege"].upper(), row["granted_on"].upper()
            if privilege == "OWNERSHIP":
                continue
            name = "" if on == "ACCOUNT" else row["name"].replace('"', "").upper()
            if on in ("TABLE", "VIEW"):
                every = RoleGrant(role, privilege, ON_TABLES if on == "TABLE" else ON_VIEWS, name.rsplit(".", 1)[0])
                if every in wanted:  # what an ALL grant left on one of the schema's tables
                    continue
            grants.add(RoleGrant(role, privilege, on, name))
        for row in _rows(cursor, f"SHOW FUTURE GRANTS TO ROLE {role}"):
            # name: <DATABASE>.<SCHEMA>.<TABLE>; grant_on: TABLE or VIEW
            schema = row["name"].replace('"', "").upper().rsplit(".", 1)[0]
            on = ON_TABLES if row["grant_on"].upper() == "TABLE" else ON_VIEWS
            grants.add(RoleGrant(role, row["privilege"].upper(), on, schema))
    return GrantState(roles, database_exists, schemas, tables, frozenset(grants))


def _rows(cursor: Any, sql: str) -> list[dict[str, Any]]:
    cursor.execute(sql)
    columns = [description[0].lower() for description in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@contextlib.contextmanager
def admin_cursor() -> Iterator[Any]:
    from eventpipe.warehouse.connections import ADMIN, SnowflakeCredentialsError, connect_snowflake

    try:
        connection = connect_snowflake(ADMIN, query_tag="eventpipe-grants")
    except SnowflakeCredentialsError as error:
        raise GrantsError(str(error)) from None
    try:
        with contextlib.closing(connection.cursor()) as cursor:
            yield cursor
    finally:
        connection.close()


def plan_grants(config: GrantsConfig, target: str = "local", cursor: Any = None) -> Planned:
    if target == "local":
        state = read_local_state()
    elif cursor is None:
        with admin_cursor() as live:
            return plan_grants(config, target, live)
    else:
        state = read_state(cursor, config)
    return Planned(plan(state, config), waiting(state, config))


def apply_grants(config: GrantsConfig, target: str = "local", cursor: Any = None) -> Planned:
    """Run the plan on the target, then plan again: nothing may remain. Returns what ran."""
    if target == "local":
        state = read_local_state()
        statements = plan(state, config)
        write_local_state(after(state, config))
        return Planned(statements, waiting(state, config))
    if cursor is None:
        with admin_cursor() as live:
            return apply_grants(config, target, live)
    statements = plan(read_state(cursor, config), config)
    for statement in statements:
        cursor.execute(statement)
    state = read_state(cursor, config)
    left = plan(state, config)
    if left:
        raise GrantsError(f"the account still differs after apply: {len(left)} statement(s) remain, first: {left[0]}")
    return Planned(statements, waiting(state, config))
