"""Each Snowflake load's own load tables (``raw.<table>_stage_<token>``) and stage folder, and what a killed
loader leaves of them.

A load registers its token in ``ops.load_in_progress`` before it creates its tables and forgets it once they are
dropped. A loader killed in between (SIGKILL, a lost worker: its ``finally`` never runs) leaves the row, the
tables and possibly Parquet files PUT but not yet copied; the next load on any worker drops them once the row is
older than ``EVENTPIPE_STALE_LOAD_SECONDS`` (default 6 hours, far above a load's minutes: a live load's tables are
never taken from under it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

from eventpipe.sql import load_sql
from eventpipe.utc import utc_now

log = logging.getLogger(__name__)
STAGE = "@raw.load_stage"
PARSE_ERROR = 1003  # the server did not parse the statement


def stale_after() -> timedelta:
    return timedelta(seconds=float(os.environ.get("EVENTPIPE_STALE_LOAD_SECONDS", str(6 * 3600))))


def _execute(conn, sql_name: str, params: dict) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(load_sql("snowflake", sql_name), params)
        return cursor.fetchall() if cursor.description else []


def drop(conn, token: str) -> None:
    """Drop one load's tables and stage folder, then forget it. ``token`` is hex (uuid4), safe in a statement."""
    if not token.isalnum():
        raise ValueError(f"not a load token: {token!r}")
    conn.execute_string(load_sql("snowflake", "drop_load_tables").format(token=token))
    _remove_stage_folder(conn, token)
    _execute(conn, "forget_load", {"token": token})


def _remove_stage_folder(conn, token: str) -> None:
    """Files PUT but never copied (COPY ... PURGE removes the ones it loads)."""
    from snowflake.connector.errors import ProgrammingError

    try:
        with conn.cursor() as cursor:
            cursor.execute(f"remove {STAGE}/{token}/")  # a client command: the folder cannot be a bind parameter
    except ProgrammingError as error:
        if error.errno != PARSE_ERROR:
            raise
        # Snowflake has REMOVE; the emulator (fakesnow) does not parse it, and keeps its stage in a temp folder.
        log.debug("the warehouse does not support REMOVE; stage folder %s left", token)


def sweep(conn) -> list[str]:
    """Drop what loads that died long ago left behind; returns their tokens."""
    swept = []
    for token, holder, started_at in _execute(conn, "stale_loads", {"before": utc_now() - stale_after()}):
        log.warning(
            "dropping the load tables of load %s (%s, started %s): its loader never finished", token, holder, started_at
        )
        drop(conn, token)
        swept.append(token)
    return swept


@contextlib.contextmanager
def load_tables(conn) -> Iterator[str]:
    """A load's own tables for the block (its token); dropped after, also on error."""
    sweep(conn)
    token = uuid.uuid4().hex
    holder = f"{socket.gethostname()}:{os.getpid()}"
    _execute(conn, "register_load", {"token": token, "holder": holder, "started_at": utc_now()})
    conn.execute_string(load_sql("snowflake", "create_load_tables").format(token=token))
    try:
        yield token
    finally:
        drop(conn, token)
