"""The share on the embedded DuckDB warehouse: one schema per consumer account, same six views.

DuckDB has no shares and no CURRENT_ACCOUNT(), so each consumer gets a schema
(``share_acme_analytics``) whose views are the Snowflake secure views transpiled by sqlglot, with
CURRENT_ACCOUNT() replaced by the consumer's account: the same column mapping, the same join to a
``sharing_access`` table with the same rows, the same masking. It reproduces what each consumer
sees, for tests, the demo and the docs' example queries; it is not a security boundary (whoever
opens the DuckDB file reads the marts directly).
"""

from __future__ import annotations

from typing import Any

from eventpipe.share.config import ShareConfig, identifier
from eventpipe.share.snowflake import access_rows
from eventpipe.share.views import VIEWS, render_select, to_duckdb

# "share_" + a name no account can have (accounts start with a letter): never a consumer's schema.
PRIVATE_SCHEMA = "share__private"
MAPPING_TABLE = f"{PRIVATE_SCHEMA}.sharing_access"


def local_view_sql(config: ShareConfig, account: str, view_name: str, source_schema: str = "marts") -> str:
    """The DuckDB SELECT behind ``share_<account>.<view_name>``."""
    view = next(v for v in VIEWS if v.name == view_name)
    account = config.consumer(account).account
    select = render_select(view, source_prefix=source_schema, mapping_table=MAPPING_TABLE, account_sql=f"'{account}'")
    return to_duckdb(select)


def build_local_share(con: Any, config: ShareConfig, source_schema: str = "marts") -> dict[str, str]:
    """(Re)build the local share in one transaction; returns {account: schema}.

    Every ``share_*`` schema is dropped and rebuilt, so a consumer removed from the config loses its
    schema and a view renamed in the mapping leaves nothing behind.
    """
    source_schema = identifier(source_schema, "source_schema").lower()
    con.begin()
    try:
        existing = con.execute(
            "SELECT schema_name FROM information_schema.schemata"
            " WHERE catalog_name = current_database() AND starts_with(schema_name, 'share_')"
        ).fetchall()
        for (schema,) in existing:
            con.execute(f'DROP SCHEMA "{schema.replace(chr(34), chr(34) * 2)}" CASCADE')
        con.execute(f"CREATE SCHEMA {PRIVATE_SCHEMA}")
        con.execute(
            f"CREATE TABLE {MAPPING_TABLE} (organization_id VARCHAR NOT NULL, snowflake_account VARCHAR NOT NULL,"
            " pii_allowed BOOLEAN NOT NULL, PRIMARY KEY (organization_id, snowflake_account))"
        )
        rows = [(r.organization_id, r.snowflake_account, r.pii_allowed) for r in access_rows(config)]
        if rows:
            con.executemany(f"INSERT INTO {MAPPING_TABLE} VALUES (?, ?, ?)", rows)
        schemas = {}
        for consumer in config.consumers:
            schemas[consumer.account] = consumer.local_schema
            con.execute(f"CREATE SCHEMA {consumer.local_schema}")
            for view in VIEWS:
                sql = local_view_sql(config, consumer.account, view.name, source_schema)
                con.execute(f"CREATE VIEW {consumer.local_schema}.{view.name} AS\n{sql}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return schemas
