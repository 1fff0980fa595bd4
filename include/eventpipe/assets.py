"""Airflow Asset URIs for the tables the pipeline writes, one name per table from raw to marts."""

from __future__ import annotations

RAW_TABLES = ("raw.session_event", "raw.audit_event", "raw.platform_event", "raw.quarantined_event")


def table_uri(table: str) -> str:
    # The warehouse is a logical name here: the same URI on DuckDB locally and on Snowflake.
    return f"eventpipe://warehouse/{table.replace('.', '/')}"
