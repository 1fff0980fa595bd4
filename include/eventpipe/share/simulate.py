"""A model of Snowflake for the planner's statements: what state running them leads to.

``apply_to_state`` reads the SQL text itself (not a side channel from the planner), so a test that
plans, applies and plans again checks the statements as written. Each statement must match one
of ``PATTERNS`` exactly: that is also the strict check on the statements sqlglot can only parse as
an opaque Command (CREATE SHARE, GRANT/REVOKE ... SHARE, ALTER SHARE). The model is pessimistic
where Snowflake's behaviour is uncertain or order-dependent: it refuses a grant whose prerequisites
are missing, and it assumes a replaced view loses its share grant.
"""

from __future__ import annotations

import re
from dataclasses import replace

from eventpipe.contract import ORGANIZATION_ID
from eventpipe.share.config import ShareConfig
from eventpipe.share.state import FINGERPRINT, AccessRow, Grant, ShareState

_ID = r"[A-Z][A-Z0-9_]*"
_NAME = rf"{_ID}(?:\.{_ID}){{0,2}}"
_ORG = ORGANIZATION_ID.pattern
_ORGS = rf"'{_ORG}'(?:, '{_ORG}')*"
_ACCOUNTS = rf"{_ID}(?:, {_ID})*"
_ACCESS = rf"{_ID}\.{_ID}\.SHARING_ACCESS"

PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.DOTALL)
    for name, pattern in {
        "create_database": rf"CREATE DATABASE IF NOT EXISTS (?P<db>{_ID})",
        "create_schema": rf"CREATE SCHEMA IF NOT EXISTS (?P<db>{_ID})\.(?P<schema>{_ID})",
        "create_table": rf"CREATE TABLE IF NOT EXISTS (?P<table>{_ACCESS}) \(\n"
        r"    organization_id VARCHAR NOT NULL,\n    snowflake_account VARCHAR NOT NULL,\n"
        r"    pii_allowed BOOLEAN NOT NULL,\n    PRIMARY KEY \(organization_id, snowflake_account\)\n\)",
        "delete": rf"DELETE FROM (?P<table>{_ACCESS}) WHERE snowflake_account = '(?P<account>{_ID})'"
        rf" AND organization_id IN \((?P<orgs>{_ORGS})\)",
        "update": rf"UPDATE (?P<table>{_ACCESS}) SET pii_allowed = (?P<pii>TRUE|FALSE)"
        rf" WHERE snowflake_account = '(?P<account>{_ID})' AND organization_id IN \((?P<orgs>{_ORGS})\)",
        "insert": rf"INSERT INTO (?P<table>{_ACCESS}) \(organization_id, snowflake_account, pii_allowed\) VALUES\n"
        rf"    (?P<values>\('{_ORG}', '{_ID}', (?:TRUE|FALSE)\)(?:,\n    \('{_ORG}', '{_ID}', (?:TRUE|FALSE)\))*)",
        "create_view": rf"CREATE OR REPLACE SECURE VIEW (?P<view>{_ID}\.{_ID}\.{_ID})\n    COPY GRANTS\n"
        r"    COMMENT = '(?P<comment>[^'\n]*)'\nAS\nSELECT\n.+",
        "drop_view": rf"DROP VIEW IF EXISTS (?P<view>{_ID}\.{_ID}\.{_ID})",
        "create_share": rf"CREATE SHARE (?P<share>{_ID}) COMMENT = '[^'\n]*'",
        "grant": rf"GRANT (?P<privilege>USAGE|REFERENCE_USAGE|SELECT) ON (?P<type>DATABASE|SCHEMA|VIEW)"
        rf" (?P<name>{_NAME}) TO SHARE (?P<share>{_ID})",
        "revoke": rf"REVOKE (?P<privilege>{_ID}) ON (?P<type>{_ID}) (?P<name>{_NAME}) FROM SHARE (?P<share>{_ID})",
        "add_accounts": rf"ALTER SHARE (?P<share>{_ID}) ADD ACCOUNTS = (?P<accounts>{_ACCOUNTS})",
        "remove_accounts": rf"ALTER SHARE (?P<share>{_ID}) REMOVE ACCOUNTS = (?P<accounts>{_ACCOUNTS})",
    }.items()
}


def classify(statement: str) -> tuple[str, re.Match[str]]:
    """The pattern a planner statement matches, or ValueError: nothing else is ever emitted."""
    for kind, pattern in PATTERNS.items():
        match = pattern.fullmatch(statement)
        if match:
            return kind, match
    raise ValueError(f"not a statement the share planner emits: {statement[:200]!r}")


class SimulationError(AssertionError):
    """The statement would fail in Snowflake (or the model cannot say what it does)."""


def apply_to_state(state: ShareState, statements: list[str], config: ShareConfig) -> ShareState:
    """The state after running ``statements`` against an account in ``state``."""
    for statement in statements:
        state = _apply(state, statement, config)
    return state.normalized()


def _apply(state: ShareState, statement: str, config: ShareConfig) -> ShareState:
    kind, m = classify(statement)
    db, schema = config.database, config.schema
    if "share" in m.groupdict() and m["share"] != config.name:
        raise SimulationError(f"statement on another share: {statement}")
    if "table" in m.groupdict():
        _require(state.mapping_table_exists or kind == "create_table", "mapping table missing", statement)
        _require(m["table"] == f"{db}.{config.private_schema}.SHARING_ACCESS", "wrong mapping table", statement)
    if kind == "create_database":
        _require(m["db"] == db, "another database", statement)
        return replace(state, database_exists=True)
    if kind == "create_schema":
        _require(state.database_exists and m["db"] == db, "database missing", statement)
        return replace(state, schemas=state.schemas | {m["schema"]})
    if kind == "create_table":
        _require(config.private_schema in state.schemas, "private schema missing", statement)
        return replace(state, mapping_table_exists=True)
    if kind in ("delete", "update"):
        orgs = set(re.findall(rf"'({_ORG})'", m["orgs"]))
        hit = [r for r in state.mapping if r.snowflake_account == m["account"] and r.organization_id in orgs]
        rest = [r for r in state.mapping if r not in hit]
        if kind == "update":
            rest += [replace(r, pii_allowed=m["pii"] == "TRUE") for r in hit]
        return replace(state, mapping=tuple(rest))
    if kind == "insert":
        rows = re.findall(rf"\('({_ORG})', '({_ID})', (TRUE|FALSE)\)", m["values"])
        return replace(state, mapping=state.mapping + tuple(AccessRow(o, a, p == "TRUE") for o, a, p in rows))
    if kind in ("create_view", "drop_view"):
        view_db, view_schema, name = m["view"].split(".")
        _require(view_db == db and view_schema == schema and schema in state.schemas, "schema missing", statement)
        views = dict(state.views)
        views.pop(name, None)
        if kind == "create_view":
            # Snowflake resolves the view's references at creation: the mapping table must exist.
            _require(state.mapping_table_exists, "the view reads a missing mapping table", statement)
            found = FINGERPRINT.search(m["comment"])
            views[name] = found.group(1) if found else None
        grants = frozenset(g for g in state.grants if g != Grant("SELECT", "VIEW", m["view"]))
        return replace(state, views=views, grants=grants)
    if kind == "create_share":
        _require(not state.share_exists, "the share exists already", statement)
        return replace(state, share_exists=True, grants=frozenset(), accounts=frozenset())
    if kind == "grant":
        _require(state.share_exists, "share missing", statement)
        new = Grant(m["privilege"], m["type"], m["name"])
        if new.object_type != "DATABASE":
            _require(Grant("USAGE", "DATABASE", db) in state.grants, "database USAGE must be granted first", statement)
        if new.object_type == "VIEW":
            _require(new.name.split(".")[-1] in state.views, "view missing", statement)
            _require(Grant("USAGE", "SCHEMA", f"{db}.{schema}") in state.grants, "schema USAGE first", statement)
            if config.source_database != db:
                reference = Grant("REFERENCE_USAGE", "DATABASE", config.source_database)
                _require(reference in state.grants, "REFERENCE_USAGE must be granted first", statement)
        return replace(state, grants=state.grants | {new})
    if kind == "revoke":
        _require(state.share_exists, "share missing", statement)
        gone = Grant(m["privilege"], m["type"], m["name"])
        grants = {g for g in state.grants if g != gone}
        if gone.privilege == "USAGE" and gone.object_type == "DATABASE":
            grants = {g for g in grants if not g.name.startswith(f"{gone.name}.")}
        return replace(state, grants=frozenset(grants))
    accounts = set(m["accounts"].split(", "))
    _require(state.share_exists, "share missing", statement)
    if kind == "add_accounts":
        _require(Grant("USAGE", "DATABASE", db) in state.grants, "a share needs a database first", statement)
        return replace(state, accounts=state.accounts | accounts)
    return replace(state, accounts=state.accounts - accounts)


def _require(condition: bool, why: str, statement: str) -> None:
    if not condition:
        raise SimulationError(f"{why}: {statement[:200]}")
