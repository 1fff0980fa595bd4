"""Snowflake statements for the share, and the state a config asks for.

Layout in the share database (``config.database``):

- ``<private_schema>.SHARING_ACCESS(organization_id, snowflake_account, pii_allowed)``: who sees
  what. Never granted to the share.
- ``<schema>.<VIEW>``: the six secure views, reading the marts in ``config.source_database``
  (REFERENCE_USAGE on that database is granted to the share when it is another database).

Every name in these statements comes from a validated ShareConfig or is checked by ``_name``
(names read back from the account, e.g. a stray grant to revoke): none is quoted or escaped.
"""

from __future__ import annotations

import hashlib
import re

from eventpipe.contract import ORGANIZATION_ID
from eventpipe.share.config import ShareConfig
from eventpipe.share.state import AccessRow, Grant, ShareState
from eventpipe.share.views import VIEWS, ShareView, render_select

_QUALIFIED = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*){0,2}")


def mapping_table(config: ShareConfig) -> str:
    return f"{config.database}.{config.private_schema}.SHARING_ACCESS"


def view_name(config: ShareConfig, view: ShareView) -> str:
    return f"{config.database}.{config.schema}.{view.name}"


def view_select(config: ShareConfig, view: ShareView) -> str:
    return render_select(
        view,
        source_prefix=f"{config.source_database}.{config.source_schema}",
        mapping_table=mapping_table(config),
        # In a consumer account, CURRENT_ACCOUNT() is the consumer's (CURRENT_ROLE()/USER() are NULL there).
        account_sql="CURRENT_ACCOUNT()",
    )


def fingerprint(config: ShareConfig, view: ShareView) -> str:
    """Hash of the view's definition, stored in its COMMENT: a changed mapping means a stale view."""
    return hashlib.sha256(view_select(config, view).encode()).hexdigest()[:16]


def access_rows(config: ShareConfig) -> tuple[AccessRow, ...]:
    return tuple(
        sorted(
            AccessRow(org, consumer.account, consumer.pii)
            for consumer in config.consumers
            for org in consumer.organizations
        )
    )


def desired_grants(config: ShareConfig) -> frozenset[Grant]:
    grants = {
        Grant("USAGE", "DATABASE", config.database),
        Grant("USAGE", "SCHEMA", f"{config.database}.{config.schema}"),
    }
    if config.source_database != config.database:
        # Required before a secure view reading another database can be granted to a share.
        grants.add(Grant("REFERENCE_USAGE", "DATABASE", config.source_database))
    grants.update(Grant("SELECT", "VIEW", view_name(config, view)) for view in VIEWS)
    return frozenset(grants)


def desired_state(config: ShareConfig) -> ShareState:
    return ShareState(
        database_exists=True,
        schemas=frozenset({config.schema, config.private_schema}),
        mapping_table_exists=True,
        mapping=access_rows(config),
        views={view.name: fingerprint(config, view) for view in VIEWS},
        share_exists=True,
        grants=desired_grants(config),
        accounts=frozenset(consumer.account for consumer in config.consumers),
    ).normalized()


# Grants are made outside-in (database, schema, referenced database, views) and revoked inside-out.
_GRANT_ORDER = {("USAGE", "DATABASE"): 0, ("USAGE", "SCHEMA"): 1, ("REFERENCE_USAGE", "DATABASE"): 2}


def grant_order(grant: Grant) -> tuple[int, str]:
    return _GRANT_ORDER.get((grant.privilege, grant.object_type), 3), grant.name


# ----------------------------------------------------------------------------------------------
# statements
# ----------------------------------------------------------------------------------------------


def create_database(config: ShareConfig) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {config.database}"


def create_schema(config: ShareConfig, schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {config.database}.{schema}"


def create_mapping_table(config: ShareConfig) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {mapping_table(config)} (\n"
        "    organization_id VARCHAR NOT NULL,\n"
        "    snowflake_account VARCHAR NOT NULL,\n"
        "    pii_allowed BOOLEAN NOT NULL,\n"
        "    PRIMARY KEY (organization_id, snowflake_account)\n"
        ")"
    )


def _in_list(values: list[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))


def delete_access(config: ShareConfig, account: str, organizations: list[str]) -> str:
    return (
        f"DELETE FROM {mapping_table(config)} WHERE snowflake_account = '{_name(account)}'"
        f" AND organization_id IN ({_in_list([_org(org) for org in organizations])})"
    )


def update_access(config: ShareConfig, account: str, organizations: list[str], pii: bool) -> str:
    return (
        f"UPDATE {mapping_table(config)} SET pii_allowed = {_bool(pii)} WHERE snowflake_account = '{_name(account)}'"
        f" AND organization_id IN ({_in_list([_org(org) for org in organizations])})"
    )


def insert_access(config: ShareConfig, rows: list[AccessRow]) -> str:
    values = ",\n    ".join(
        f"('{_org(row.organization_id)}', '{_name(row.snowflake_account)}', {_bool(row.pii_allowed)})"
        for row in sorted(rows)
    )
    return f"INSERT INTO {mapping_table(config)} (organization_id, snowflake_account, pii_allowed) VALUES\n    {values}"


def create_view(config: ShareConfig, view: ShareView) -> str:
    # SECURE: consumers cannot see the definition (nor the mapping table it reads), and the optimizer
    # may not push their predicates below the account filter. COPY GRANTS keeps the provider's own
    # role grants; the share's SELECT is granted again by the plan all the same.
    return (
        f"CREATE OR REPLACE SECURE VIEW {view_name(config, view)}\n"
        "    COPY GRANTS\n"
        f"    COMMENT = 'eventpipe share view {view.name}, definition sha256:{fingerprint(config, view)}'\n"
        f"AS\n{view_select(config, view)}"
    )


def drop_view(config: ShareConfig, name: str) -> str:
    return f"DROP VIEW IF EXISTS {config.database}.{config.schema}.{_name(name)}"


def create_share(config: ShareConfig) -> str:
    return f"CREATE SHARE {config.name} COMMENT = 'eventpipe: per-consumer secure views (docs/querying-the-share.md)'"


def grant(config: ShareConfig, grant: Grant) -> str:
    return f"GRANT {grant.privilege} ON {grant.object_type} {_name(grant.name)} TO SHARE {config.name}"


def revoke(config: ShareConfig, grant: Grant) -> str:
    return f"REVOKE {_name(grant.privilege)} ON {_name(grant.object_type)} {_name(grant.name)} FROM SHARE {config.name}"


def add_accounts(config: ShareConfig, accounts: list[str]) -> str:
    return f"ALTER SHARE {config.name} ADD ACCOUNTS = {', '.join(_name(a) for a in sorted(accounts))}"


def remove_accounts(config: ShareConfig, accounts: list[str]) -> str:
    return f"ALTER SHARE {config.name} REMOVE ACCOUNTS = {', '.join(_name(a) for a in sorted(accounts))}"


def _bool(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _name(value: str) -> str:
    """A (qualified) unquoted name. Names read from a live account are checked before they go into SQL."""
    if not _QUALIFIED.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain Snowflake name: change it by hand, the planner will not")
    return value


def _org(value: str) -> str:
    # Organization ids read from the mapping table (not the config) are checked too.
    if not ORGANIZATION_ID.fullmatch(value):
        raise ValueError(f"sharing_access holds organization id {value!r}: remove it by hand, the planner will not")
    return value
