"""The lease that lets Snowflake loaders run at once: their MERGE step (deduplication against all history) runs
one loader at a time, everything else (validation, PUT, COPY INTO per-load tables) in parallel.

Two MERGEs at once would each see the other's new event ids as absent and both insert them. The lease is a row of
``ops.merge_lease`` taken by one conditional UPDATE; it expires ``EVENTPIPE_MERGE_LEASE_SECONDS`` (default 600)
after it was taken or last renewed, so a loader that dies holding it (a SIGKILLed worker, a lost host) blocks the
others for one lease at most, and never forever. The holder renews it before each MERGE and stops with
``LeaseLost`` if it expired meanwhile and another loader took it (the task's retry loads what is missing: every
step is idempotent).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from eventpipe.sql import load_sql
from eventpipe.utc import utc_now

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """The merge lease expired while this loader held it and another loader took it."""


class LeaseTimeout(TimeoutError):
    """The merge lease stayed taken longer than ``EVENTPIPE_MERGE_LEASE_WAIT_SECONDS``."""


def lease_seconds() -> float:
    return float(os.environ.get("EVENTPIPE_MERGE_LEASE_SECONDS", "600"))


def wait_seconds() -> float:
    return float(os.environ.get("EVENTPIPE_MERGE_LEASE_WAIT_SECONDS", "1800"))


def _update(conn, sql_name: str, params: dict) -> int:
    """Rows the UPDATE changed; a write conflict (the emulator's answer to a concurrent UPDATE) changed none."""
    from snowflake.connector.errors import ProgrammingError

    try:
        with conn.cursor() as cursor:
            cursor.execute(load_sql("snowflake", sql_name), params)
            return cursor.rowcount or 0
    except ProgrammingError as error:
        if "conflict" in str(error).lower():
            return 0
        raise


@dataclass
class Lease:
    conn: object
    holder: str

    def renew(self) -> None:
        expires_at = utc_now() + timedelta(seconds=lease_seconds())
        if not _update(self.conn, "renew_merge_lease", {"holder": self.holder, "expires_at": expires_at}):
            raise LeaseLost(f"the merge lease of {self.holder} expired and was taken by another loader")

    def release(self) -> None:
        _update(self.conn, "release_merge_lease", {"holder": self.holder})


def acquire(conn, holder: str | None = None) -> Lease | None:
    """Take the lease if it is free or expired, else None (one attempt)."""
    conn.execute_string(load_sql("snowflake", "create_merge_lease"))
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = utc_now()
    params = {"holder": holder, "now": now, "expires_at": now + timedelta(seconds=lease_seconds())}
    return Lease(conn, holder) if _update(conn, "acquire_merge_lease", params) else None


@contextlib.contextmanager
def merge_lease(conn) -> Iterator[Lease]:
    """Hold the merge lease for the block (waiting for it), and give it back after, also on error."""
    deadline = time.monotonic() + wait_seconds()
    waited_since = time.monotonic()
    while (lease := acquire(conn)) is None:
        if time.monotonic() > deadline:
            raise LeaseTimeout(f"the merge lease stayed taken for {wait_seconds():.0f}s (ops.merge_lease)")
        time.sleep(random.uniform(0.05, 0.3))
    waited = time.monotonic() - waited_since
    if waited > 1:
        log.info("waited %.1fs for the merge lease", waited)
    try:
        yield lease
    finally:
        try:
            lease.release()
        except Exception:  # a dead connection: the lease expires by itself
            log.warning("could not release the merge lease of %s; it expires in %.0fs", lease.holder, lease_seconds())
