"""What exists in a Snowflake account for the share, and reading it from a live account.

``ShareState`` is all the planner compares against: the share database and its schemas, the
private mapping table and its rows, the share views (by definition fingerprint), the share, what
is granted to it and which accounts receive it. ``read_state`` fills it from SHOW commands and one
SELECT through any DB-API cursor (snowflake-connector-python's, in production).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventpipe.share.config import ShareConfig

# The fingerprint the planner writes into each view's COMMENT (read back by SHOW VIEWS).
FINGERPRINT = re.compile(r"sha256:([0-9a-f]{16})")


@dataclass(frozen=True, order=True)
class AccessRow:
    """One row of the private sharing_access table: an account may see an organization's rows."""

    organization_id: str
    snowflake_account: str
    pii_allowed: bool


@dataclass(frozen=True, order=True)
class Grant:
    """A privilege granted to the share, e.g. ("SELECT", "VIEW", "EVENTPIPE_SHARE.SHARE.SESSION_EVENT")."""

    privilege: str
    object_type: str
    name: str


@dataclass(frozen=True)
class ShareState:
    database_exists: bool = False
    schemas: frozenset[str] = frozenset()  # schemas of the share database
    mapping_table_exists: bool = False
    # As read, duplicates included: Snowflake does not enforce primary keys, and a duplicate
    # (organization, account) row would duplicate that account's rows in every view.
    mapping: tuple[AccessRow, ...] = ()
    # Views of the shared schema -> fingerprint of their definition (None: unknown or not secure).
    views: Mapping[str, str | None] = field(default_factory=dict)
    share_exists: bool = False
    grants: frozenset[Grant] = frozenset()
    accounts: frozenset[str] = frozenset()

    def normalized(self) -> ShareState:
        """Same state, mapping rows sorted: states compare equal whatever order rows were read in."""
        return ShareState(
            database_exists=self.database_exists,
            schemas=frozenset(self.schemas),
            mapping_table_exists=self.mapping_table_exists,
            mapping=tuple(sorted(self.mapping)),
            views=dict(sorted(self.views.items())),
            share_exists=self.share_exists,
            grants=frozenset(self.grants),
            accounts=frozenset(self.accounts),
        )


def read_state(cursor: Any, config: ShareConfig) -> ShareState:
    """Read the share's current state from a Snowflake account through a DB-API cursor.

    Only reads (SHOW ... and one SELECT); run it with the role that will apply the plan, since SHOW
    lists only what that role can see.
    """
    db, schema, private = config.database, config.schema, config.private_schema
    names = {row["name"].upper() for row in _rows(cursor, f"SHOW DATABASES LIKE '{db}'")}
    database_exists = db in names
    schemas: frozenset[str] = frozenset()
    mapping_table_exists, mapping, views = False, (), {}
    if database_exists:
        schemas = frozenset(row["name"].upper() for row in _rows(cursor, f"SHOW SCHEMAS IN DATABASE {db}"))
    if private in schemas:
        tables = _rows(cursor, f"SHOW TABLES LIKE 'SHARING_ACCESS' IN SCHEMA {db}.{private}")
        mapping_table_exists = any(row["name"].upper() == "SHARING_ACCESS" for row in tables)
    if mapping_table_exists:
        cursor.execute(f"SELECT organization_id, snowflake_account, pii_allowed FROM {db}.{private}.SHARING_ACCESS")
        mapping = tuple(sorted(AccessRow(str(o), str(a).upper(), bool(p)) for o, a, p in cursor.fetchall()))
    if schema in schemas:
        for row in _rows(cursor, f"SHOW VIEWS IN SCHEMA {db}.{schema}"):
            found = FINGERPRINT.search(row.get("comment") or "")
            secure = str(row.get("is_secure", "")).lower() == "true"
            # A non-secure view would expose its definition and allow optimizer leaks: recreate it.
            views[row["name"].upper()] = found.group(1) if found and secure else None
    share_exists, accounts, grants = False, frozenset(), frozenset()
    for row in _rows(cursor, f"SHOW SHARES LIKE '{config.name}'"):
        # Before the 2023_05 bundle NAME was qualified (<org>.<account>.<share>): keep the last part.
        if str(row.get("kind") or "").upper() == "OUTBOUND" and row["name"].split(".")[-1].upper() == config.name:
            share_exists = True
            accounts = frozenset(_account(entry) for entry in (row.get("to") or "").split(",") if entry.strip())
    if share_exists:
        grants = frozenset(
            Grant(row["privilege"].upper(), row["granted_on"].upper(), row["name"].replace('"', "").upper())
            for row in _rows(cursor, f"SHOW GRANTS TO SHARE {config.name}")
        )
    return ShareState(
        database_exists=database_exists,
        schemas=schemas,
        mapping_table_exists=mapping_table_exists,
        mapping=mapping,
        views=views,
        share_exists=share_exists,
        grants=grants,
        accounts=accounts,
    ).normalized()


def _account(entry: str) -> str:
    # SHOW SHARES lists consumers as <org>.<account> (or a bare locator): the config names the account.
    return entry.strip().split(".")[-1].upper()


def _rows(cursor: Any, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts keyed by lower-case column name: SHOW output is addressed by name, not position."""
    cursor.execute(sql)
    columns = [description[0].lower() for description in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
