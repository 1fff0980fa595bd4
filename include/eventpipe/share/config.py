"""The share's consumers config (YAML) and its validation.

Every value in this file ends up inside SQL: identifiers (share, database, schema and account names)
are written unquoted, organization ids as string literals. Instead of quoting and escaping at each
use, the config is validated once, strictly, here: a value that could change a statement's meaning
is refused with an error that names it, and every later renderer can trust what it gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eventpipe.contract import ORGANIZATION_ID

# Unquoted Snowflake identifiers: a letter, then letters, digits and underscores (255 at most).
# Account locators and account names fit this too; they are upper-cased, as Snowflake does.

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")

# Snowflake's reserved words: unquoted, they would break a statement (or change it) as an identifier.
_RESERVED_WORDS = """ACCOUNT ALL ALTER AND ANY AS BETWEEN BY CASE CAST CHECK COLUMN CONNECT CONNECTION CONSTRAINT
    CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DATABASE DELETE
    DISTINCT DROP ELSE EXISTS FALSE FOLLOWING FOR FROM FULL GRANT GROUP GSCLUSTER HAVING ILIKE IN
    INCREMENT INNER INSERT INTERSECT INTO IS ISSUE JOIN LATERAL LEFT LIKE LOCALTIME LOCALTIMESTAMP
    MINUS NATURAL NOT NULL OF ON OR ORDER ORGANIZATION QUALIFY REGEXP REVOKE RIGHT RLIKE ROW ROWS
    SAMPLE SCHEMA SELECT SET SOME START TABLE TABLESAMPLE THEN TO TRIGGER TRUE TRY_CAST UNION UNIQUE
    UPDATE USING VALUES VIEW WHEN WHENEVER WHERE WITH"""
RESERVED = frozenset(_RESERVED_WORDS.split())

_SHARE_KEYS = {"name", "database", "schema", "private_schema", "source_database", "source_schema"}
_CONSUMER_KEYS = {"account", "organizations", "pii"}


@dataclass(frozen=True)
class Consumer:
    """A Snowflake account that gets the share, the organizations it may see, and whether PII is visible."""

    account: str  # upper case; what CURRENT_ACCOUNT() returns in the consumer account
    organizations: tuple[str, ...]  # sorted
    pii: bool = False

    @property
    def local_schema(self) -> str:
        """The consumer's schema in the local DuckDB share (``share_acme_analytics``)."""
        return f"share_{self.account.lower()}"


@dataclass(frozen=True)
class ShareConfig:
    """Where the share lives in Snowflake and who consumes it. Every name is validated and upper-cased."""

    consumers: tuple[Consumer, ...]  # sorted by account
    name: str = "EVENTPIPE_SHARE"  # the share
    database: str = "EVENTPIPE_SHARE"  # holds the secure views and the private mapping table
    schema: str = "SHARE"  # the shared schema: secure views only
    private_schema: str = "SHARE_PRIVATE"  # never granted to the share: the sharing_access mapping
    source_database: str = "ANALYTICS"  # where dbt builds the marts (profiles.yml, target snowflake)
    source_schema: str = "MARTS"

    def consumer(self, account: str) -> Consumer:
        for consumer in self.consumers:
            if consumer.account == account.upper():
                return consumer
        raise KeyError(account)


def load_config(path: str | Path) -> ShareConfig:
    """Read and validate a consumers YAML file (see config/consumers.example.yml)."""
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    try:
        return parse_config(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def parse_config(data: Any) -> ShareConfig:
    """Validate an already-parsed config mapping: ``{share: {...}, consumers: [...]}``."""
    if not isinstance(data, dict):
        raise ValueError("the share config must be a mapping with 'share' and 'consumers'")
    _no_unknown_keys(data, {"share", "consumers"}, "the share config")
    share = data.get("share") or {}
    if not isinstance(share, dict):
        raise ValueError("'share' must be a mapping")
    _no_unknown_keys(share, _SHARE_KEYS, "'share'")
    names = {key: identifier(value, f"share.{key}") for key, value in share.items()}
    consumers = data.get("consumers")
    if consumers is None:
        consumers = []
    if not isinstance(consumers, list):
        raise ValueError("'consumers' must be a list")
    parsed = [_consumer(entry, index) for index, entry in enumerate(consumers)]
    seen: set[str] = set()
    for consumer in parsed:
        if consumer.account in seen:
            raise ValueError(f"consumer account {consumer.account!r} is listed twice")
        seen.add(consumer.account)
    config = ShareConfig(consumers=tuple(sorted(parsed, key=lambda c: c.account)), **names)
    if config.schema == config.private_schema:
        # The mapping table would be in the shared schema: consumers could read every account's grants.
        raise ValueError(f"share.schema and share.private_schema must differ (both {config.schema!r})")
    return config


def identifier(value: Any, what: str) -> str:
    """An unquoted Snowflake identifier, upper-cased; anything else is a ValueError naming the value."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{what}: {value!r} is not a plain identifier (a letter, then letters, digits or '_', 255 at most)"
        )
    if value.upper() in RESERVED:
        raise ValueError(f"{what}: {value!r} is a Snowflake reserved word")
    return value.upper()


def organization_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ORGANIZATION_ID.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not an organization id (1-128 of A-Z, a-z, 0-9, '_', '-')")
    return value


def _consumer(entry: Any, index: int) -> Consumer:
    where = f"consumers[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping with 'account', 'organizations' and 'pii'")
    # A typo such as 'organisations' or 'pii_allowed' must not silently become "no orgs" or "no PII".
    _no_unknown_keys(entry, _CONSUMER_KEYS, where)
    if "account" not in entry:
        raise ValueError(f"{where}: 'account' is required")
    account = identifier(entry["account"], f"{where}.account")
    where = f"consumer {account}"
    organizations = entry.get("organizations")
    if not isinstance(organizations, list) or not organizations:
        raise ValueError(f"{where}: 'organizations' must be a non-empty list of organization ids")
    orgs = [organization_id(org, f"{where}.organizations") for org in organizations]
    duplicates = sorted({org for org in orgs if orgs.count(org) > 1})
    if duplicates:
        raise ValueError(f"{where}: organization {duplicates[0]!r} is listed twice")
    pii = entry.get("pii", False)
    if not isinstance(pii, bool):
        # YAML would read "no" as False but "off", "0" or "yes please" as other things: only true/false.
        raise ValueError(f"{where}.pii: {pii!r} must be true or false")
    return Consumer(account=account, organizations=tuple(sorted(orgs)), pii=pii)


def _no_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in mapping if key not in allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
