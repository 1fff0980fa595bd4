"""Where ``eventpipe run`` loads and builds: the embedded DuckDB, Snowflake, or the Snowflake emulator.

A target is a set of environment variables that every part reads at call time: the loader
(``EVENTPIPE_TARGET``, through ``eventpipe.warehouse.open_warehouse``), dbt through Cosmos
(``EVENTPIPE_DBT_TARGET``, a target of ``dbt_project/profiles.yml``) and the Snowflake hook (the
Airflow Connection ``snowflake_default``, from Airflow's secrets: an ``AIRFLOW_CONN_*`` variable or
the metadata database, never a file of this repo).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TARGETS = ("duckdb", "snowflake", "snowflake-emulator")

_ENVIRONMENTS = {
    "duckdb": {"EVENTPIPE_TARGET": "duckdb", "EVENTPIPE_DBT_TARGET": "duckdb"},
    "snowflake": {"EVENTPIPE_TARGET": "snowflake", "EVENTPIPE_DBT_TARGET": "snowflake"},
}


def default_target() -> str:
    return os.environ.get("EVENTPIPE_RUN_TARGET", "duckdb")


@contextlib.contextmanager
def activated(target: str) -> Iterator[None]:
    """The process environment of ``target`` for the block (the emulator runs for as long)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    if target == "snowflake-emulator":
        from eventpipe.devtools import emulator
        from eventpipe.warehouse.connections import JOBS, job_conn_id

        # A job's own Connection (snowflake_loader, ...) would take precedence over the emulator's snowflake_default,
        # and SNOWFLAKE_* credentials are the fallback: none of them in this block.
        real_account = dict.fromkeys(
            (
                "SNOWFLAKE_ACCOUNT",
                "SNOWFLAKE_USER",
                "SNOWFLAKE_PASSWORD",
                "SNOWFLAKE_PRIVATE_KEY",
                *(f"AIRFLOW_CONN_{job_conn_id(job).upper()}" for job in JOBS),
            )
        )
        with emulator.running() as endpoint, _environ(endpoint.environ() | real_account):
            yield
    else:
        with _environ(_ENVIRONMENTS[target]):
            yield


@contextlib.contextmanager
def _environ(values: dict[str, str | None]) -> Iterator[None]:
    """``values`` set (None: unset) in ``os.environ`` for the block."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
