"""The four roles and every privilege each holds (docs/production.md, "Snowflake roles and grants").

==================== =====================================================================================
role                 may
==================== =====================================================================================
loader               write ``raw`` and ``ops`` (create tables and the load stage there, own what it creates)
transformer          read ``raw`` and ``ops``; create the ``staging`` views, the ``marts`` tables and
                     ``ops.dbt_build_bound`` (what dbt builds)
share owner          read ``marts``; create the share database and the share (``eventpipe share apply``)
reader               read ``marts`` and the one ``ops`` table the explorer joins (``ops.load_batch``); nothing
                     else, and no write of any kind
==================== =====================================================================================

Every role uses the one warehouse. Tables are granted as ``FUTURE`` grants (tables created later) plus an
``ALL`` grant (tables that exist now); roles own the objects they create, so a writer writes only there.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventpipe.share.config import IDENTIFIER, RESERVED
from eventpipe.warehouse.connections import LOADER, READER, SHARE, TRANSFORMER

RAW, OPS, STAGING, MARTS = "RAW", "OPS", "STAGING", "MARTS"
SCHEMAS = (RAW, OPS, STAGING, MARTS)
# The explorer's session events show each event's load batch (sql/portable/explorer_session_events.sql).
READER_OPS_TABLE = "LOAD_BATCH"

# What a grant is on: the account, a database, schema or warehouse by name, one table, or every table or view
# of a schema (future and existing ones: ``TABLES`` / ``VIEWS``, the name being the schema's).
ON_ACCOUNT, ON_DATABASE, ON_SCHEMA, ON_WAREHOUSE, ON_TABLE = "ACCOUNT", "DATABASE", "SCHEMA", "WAREHOUSE", "TABLE"
ON_TABLES, ON_VIEWS = "TABLES", "VIEWS"
# Privileges that read or merely resolve a name: everything a reader holds is one of these.
READ_PRIVILEGES = frozenset({"USAGE", "SELECT"})


@dataclass(frozen=True, order=True)
class RoleGrant:
    """A privilege held by a role, e.g. ("EVENTPIPE_READER", "SELECT", "TABLES", "ANALYTICS.MARTS")."""

    role: str
    privilege: str
    on: str
    name: str = ""  # empty for the account


@dataclass(frozen=True)
class GrantsConfig:
    """Where the pipeline's objects live and what its roles are called. Every name is a validated identifier."""

    database: str = "ANALYTICS"  # raw, ops, staging, marts (profiles.yml, target snowflake)
    warehouse: str = "EVENTPIPE"
    prefix: str = "EVENTPIPE"  # roles are <prefix>_LOADER, <prefix>_TRANSFORMER, <prefix>_SHARE_OWNER, ...

    def __post_init__(self) -> None:
        for field in ("database", "warehouse", "prefix"):
            value = getattr(self, field)
            if not IDENTIFIER.fullmatch(value) or value.upper() in RESERVED:
                raise ValueError(f"{field}: {value!r} is not a plain Snowflake identifier")
            object.__setattr__(self, field, value.upper())

    def role(self, job: str) -> str:
        """The role of a job (``eventpipe.warehouse.connections``: loader, transformer, share, reader)."""
        return f"{self.prefix}_{'SHARE_OWNER' if job == SHARE else job.upper()}"

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.role(job) for job in (LOADER, TRANSFORMER, SHARE, READER))

    def schema(self, name: str) -> str:
        return f"{self.database}.{name}"


def desired(config: GrantsConfig) -> frozenset[RoleGrant]:
    """Every grant the four roles hold, and nothing else."""
    db, schema = config.database, config.schema
    loader, transformer, share, reader = config.roles
    grants: set[RoleGrant] = set()
    for role in config.roles:
        grants |= {RoleGrant(role, "USAGE", ON_WAREHOUSE, config.warehouse), RoleGrant(role, "USAGE", ON_DATABASE, db)}

    # loader: writes raw and ops (owns the tables and the stage it creates there).
    for name in (RAW, OPS):
        grants |= {RoleGrant(loader, p, ON_SCHEMA, schema(name)) for p in ("USAGE", "CREATE TABLE")}
    grants.add(RoleGrant(loader, "CREATE STAGE", ON_SCHEMA, schema(RAW)))
    # ops.dbt_build_bound is the transformer's; the loader's lag and summaries read it.
    grants.add(RoleGrant(loader, "SELECT", ON_TABLES, schema(OPS)))

    # transformer: reads raw and ops, builds staging (views), marts (tables) and ops.dbt_build_bound.
    for name in (RAW, OPS):
        grants |= {
            RoleGrant(transformer, "USAGE", ON_SCHEMA, schema(name)),
            RoleGrant(transformer, "SELECT", ON_TABLES, schema(name)),
        }
    grants.add(RoleGrant(transformer, "CREATE TABLE", ON_SCHEMA, schema(OPS)))
    for name in (STAGING, MARTS):
        grants |= {RoleGrant(transformer, p, ON_SCHEMA, schema(name)) for p in ("USAGE", "CREATE TABLE", "CREATE VIEW")}

    # share owner: reads the marts; creates the share database (its secure views, the mapping table) and the share.
    grants |= {
        RoleGrant(share, "USAGE", ON_SCHEMA, schema(MARTS)),
        RoleGrant(share, "SELECT", ON_TABLES, schema(MARTS)),
    }
    grants |= {RoleGrant(share, p, ON_ACCOUNT) for p in ("CREATE DATABASE", "CREATE SHARE")}

    # reader: SELECT on the marts (tables and views), and the one ops table the explorer joins.
    grants.add(RoleGrant(reader, "USAGE", ON_SCHEMA, schema(MARTS)))
    grants |= {RoleGrant(reader, "SELECT", on, schema(MARTS)) for on in (ON_TABLES, ON_VIEWS)}
    grants.add(RoleGrant(reader, "USAGE", ON_SCHEMA, schema(OPS)))
    grants.add(RoleGrant(reader, "SELECT", ON_TABLE, f"{schema(OPS)}.{READER_OPS_TABLE}"))
    return frozenset(grants)
