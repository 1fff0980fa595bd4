"""Load commits: how every write to the raw tables is serialized and numbered by the warehouse itself.

A load group (or a page of a quarantine replay) commits its raw rows, quarantined lines, ledger rows and one
``ops.load_commit`` row in a single transaction whose first statement takes the next number from
``ops.load_sequence`` by updating its one row (``sql/portable/advance_commit_seq.sql``). A second writer cannot
update that row while the first transaction is open: Snowflake makes it wait for the row's lock (and aborts, after
five idle minutes, a transaction whose client died holding it), DuckDB and the emulator abort it with a write
conflict. So:

- commits are serialized by the warehouse, not by a lease on anyone's clock: the deduplication against history
  (run inside the transaction, after the number is taken) sees every earlier commit, and two writers can never
  insert the same event id, however slow either is;
- commit numbers follow commit order: once commit ``n`` is visible, so is every commit before it. A later stage
  (the marts, the deliveries) takes the commits numbered above what it absorbed, up to the last one it sees
  (``last_commit_seq.sql``), and can never miss a commit that was still open when it looked.

A write conflict (or, on Snowflake, a lock wait that ran out) rolls the transaction back; ``retry_conflicts`` runs
the attempt again after a jittered pause, for ``EVENTPIPE_COMMIT_WAIT_SECONDS`` (default 1800) at most.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import duckdb

log = logging.getLogger(__name__)
T = TypeVar("T")

LOAD, REPLAY = "load", "replay"  # ops.load_commit.commit_kind
# Snowflake: "... has locked table ... and this lock has not yet been released" (a lock wait that ran out or too
# many waiters); the emulator answers a write conflict with the same code.
SNOWFLAKE_LOCK_ERRNOS = frozenset({625})


@dataclass
class CommitTotals:
    """The figures an ``ops.load_commit`` row carries."""

    files: int = 0
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0


def wait_seconds() -> float:
    return float(os.environ.get("EVENTPIPE_COMMIT_WAIT_SECONDS", "1800"))


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` says another writer holds the commit sequence (retry the commit), on either engine.

    On DuckDB that is a write-write conflict, or a key another transaction committed first (a
    ``TransactionException`` at commit, where a duplicate within the statement is a ``ConstraintException``): two
    runs creating the ledger's tables at once both insert its 'delivery_claim' row, and the second, retried, finds it.
    """
    if isinstance(error, duckdb.TransactionException):
        message = str(error).lower()
        return "conflict" in message or "duplicate key" in message
    from snowflake.connector.errors import ProgrammingError

    return isinstance(error, ProgrammingError) and error.errno in SNOWFLAKE_LOCK_ERRNOS


def retry_conflicts(attempt: Callable[[], T], what: str, sleep: Callable[[float], None] = time.sleep) -> T:
    """``attempt()`` (a whole transaction that rolls itself back on error), again after a pause while it fails with
    a write conflict, until ``wait_seconds`` have passed."""
    deadline = time.monotonic() + wait_seconds()
    tries = 0
    while True:
        try:
            return attempt()
        except Exception as error:
            if not is_conflict(error) or time.monotonic() > deadline:
                raise
            tries += 1
            delay = random.uniform(0.05, min(2.0, 0.1 * 2 ** min(tries, 5)))
            if tries in (1, 10) or tries % 50 == 0:
                log.info("%s: another writer holds the commit sequence (try %d); again in %.2fs", what, tries, delay)
            sleep(delay)
