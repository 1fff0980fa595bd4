"""The planner: the statements that take an account's roles from their current grants to ``roles.desired``.

Containers first (the roles, the database and its schemas: ``IF NOT EXISTS``), then access is narrowed before
it is widened: every grant the roles hold and should not is revoked, then every missing one is granted. A grant
on every table or view of a schema is two statements, ``FUTURE`` (what is created later) and ``ALL`` (what
exists). A grant on one table waits until the table exists (``waiting``). Planning against the state a plan
produces yields no statements (``after``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eventpipe.grants.roles import (
    ON_ACCOUNT,
    ON_TABLE,
    ON_TABLES,
    ON_VIEWS,
    SCHEMAS,
    GrantsConfig,
    RoleGrant,
    desired,
)


@dataclass(frozen=True)
class GrantState:
    """What the planner compares against: the roles that exist, the database and its schemas, the tables a grant
    names one by one, and the grants the roles hold (``roles.RoleGrant``, table grants folded per schema)."""

    roles: frozenset[str] = frozenset()
    database_exists: bool = False
    schemas: frozenset[str] = frozenset()  # qualified: ANALYTICS.RAW
    tables: frozenset[str] = frozenset()  # qualified: ANALYTICS.OPS.LOAD_BATCH
    grants: frozenset[RoleGrant] = frozenset()


def waiting(current: GrantState, config: GrantsConfig) -> list[RoleGrant]:
    """Grants on one table that does not exist yet (created by a later load): planned once it does."""
    return sorted(g for g in desired(config) if g.on == ON_TABLE and g.name not in current.tables)


def plan(current: GrantState, config: GrantsConfig) -> list[str]:
    target = desired(config) - set(waiting(current, config))
    statements = [create_role(role) for role in config.roles if role not in current.roles]
    if not current.database_exists:
        statements.append(f"CREATE DATABASE IF NOT EXISTS {config.database}")
    schemas = current.schemas if current.database_exists else frozenset()
    statements += [
        f"CREATE SCHEMA IF NOT EXISTS {config.schema(s)}" for s in SCHEMAS if config.schema(s) not in schemas
    ]
    held = current.grants if current.roles else frozenset()
    for extra in sorted(held - target):
        statements += revoke(extra)
    for missing in sorted(target - held):
        statements += grant(missing)
    return statements


def after(current: GrantState, config: GrantsConfig) -> GrantState:
    """The state ``plan(current, config)`` leads to (what the local target records after an apply)."""
    return replace(
        current,
        roles=current.roles | set(config.roles),
        database_exists=True,
        schemas=current.schemas | {config.schema(s) for s in SCHEMAS},
        grants=desired(config) - set(waiting(current, config)),
    )


def create_role(role: str) -> str:
    return f"CREATE ROLE IF NOT EXISTS {role}"


def _object(grant: RoleGrant) -> list[str]:
    """What follows ON in a GRANT or REVOKE: one phrase, or two for every table or view of a schema."""
    if grant.on == ON_ACCOUNT:
        return ["ACCOUNT"]
    if grant.on in (ON_TABLES, ON_VIEWS):
        return [f"FUTURE {grant.on} IN SCHEMA {grant.name}", f"ALL {grant.on} IN SCHEMA {grant.name}"]
    return [f"{grant.on} {grant.name}"]


def grant(g: RoleGrant) -> list[str]:
    return [f"GRANT {g.privilege} ON {phrase} TO ROLE {g.role}" for phrase in _object(g)]


def revoke(g: RoleGrant) -> list[str]:
    return [f"REVOKE {g.privilege} ON {phrase} FROM ROLE {g.role}" for phrase in _object(g)]
