"""Validate a group of landing files and turn its lines into raw-table rows, in DuckDB, on any target.

Validation, deduplication within the group and typed extraction are SQL run by DuckDB over Arrow
chunks of lines (``sql/duckdb/validate_chunk.sql`` and friends). On the embedded target that DuckDB
is the warehouse itself, so the group's rows go straight into its raw tables (and the anti-join
against history happens here). On Snowflake it is a scratch in-memory DuckDB with empty raw tables:
the rows it produces are shipped as Parquet and deduplicated against history by ``MERGE``. Either
way each line is parsed by the same SQL, so both targets hold the same rows.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from eventpipe.contract import INTERVAL, TABLE_KINDS
from eventpipe.ingest import extract
from eventpipe.ingest.linescan import Limits, lines_table
from eventpipe.sql import load_sql

log = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass
class GroupOutcome:
    """What became of every line of a group: per file, and per kind loaded / reason quarantined."""

    files: dict[str, FileOutcome] = field(default_factory=dict)
    loaded_by_kind: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    # Files that could not be read to their end: none of their lines staged, not in ``files``.
    unreadable: dict[str, extract.UnreadableFile] = field(default_factory=dict)
    # Files of the group that another load committed first (two loads of one hour at once): left to it.
    already_loaded: list[str] = field(default_factory=list)
    commit_seq: int | None = None  # the load commit that holds the group (None: nothing was committed)


def stage_group(
    con: duckdb.DuckDBPyConnection,
    urls: list[str],
    interval_start: datetime,
    batch_id: str,
    loaded_at: datetime,
    commit_seq: int,
) -> GroupOutcome:
    """Validate ``urls`` and insert the group's new events and quarantined lines into ``con``'s raw tables, numbered
    ``commit_seq`` (``eventpipe.warehouse.commits``).

    "New" means the first copy of each event_id in the group, and not already in ``con``'s raw tables.
    The caller owns the transaction, and drops the staging tables with ``drop_staging``.
    """
    con.execute(load_sql("duckdb", "create_staged_line"))
    unreadable = _validate_files(con, urls, interval_start)
    select_new_events(con)
    params = {"batch_id": batch_id, "loaded_at": loaded_at, "commit_seq": commit_seq}
    for kind in TABLE_KINDS:
        con.execute(load_sql("duckdb", f"insert_{kind}_event"), params)
    con.execute(load_sql("duckdb", "insert_quarantined_event"), params)

    outcome = GroupOutcome(unreadable=unreadable)
    for source_file, lines, loaded, duplicates, quarantined in con.execute(
        load_sql("duckdb", "file_outcomes")
    ).fetchall():
        outcome.files[source_file] = FileOutcome(lines, loaded, duplicates, quarantined)
    for url in urls:  # an empty file has no staged line, and still counts as loaded
        if url not in unreadable:
            outcome.files.setdefault(url, FileOutcome())
    for kind_or_reason, label, lines in con.execute(load_sql("duckdb", "staged_outcomes")).fetchall():
        counts = outcome.quarantined_by_reason if kind_or_reason == "quarantined" else outcome.loaded_by_kind
        counts[label] = counts.get(label, 0) + lines
    return outcome


def stage_replayed_lines(
    con: duckdb.DuckDBPyConnection, candidates: list[tuple], batch_id: str, loaded_at: datetime, commit_seq: int
) -> GroupOutcome:
    """Validate quarantined lines again, ``(source_file, interval_start, line_number, raw_line)`` each,
    and insert those that pass now and are new into ``con``'s raw tables (quarantine: nothing new).

    The outcome's ``loaded_by_kind`` counts the new events, ``quarantined_by_reason`` the lines still
    failing. ``staged_line`` keeps every line's verdict until ``drop_staging``.
    """
    con.execute(load_sql("duckdb", "create_staged_line"))
    limits = Limits.from_settings()
    for (source_file, interval_start), lines in itertools.groupby(candidates, key=lambda row: tuple(row[:2])):
        rows = list(lines)
        chunk = lines_table([row[2] for row in rows], [bytes(row[3]) for row in rows], limits)
        validate_chunk(con, source_file, chunk, interval_start, limits)
    select_new_events(con)
    for kind in TABLE_KINDS:
        params = {"batch_id": batch_id, "loaded_at": loaded_at, "commit_seq": commit_seq}
        con.execute(load_sql("duckdb", f"insert_{kind}_event"), params)
    outcome = GroupOutcome()
    for kind_or_reason, label, lines in con.execute(load_sql("duckdb", "staged_outcomes")).fetchall():
        counts = outcome.quarantined_by_reason if kind_or_reason == "quarantined" else outcome.loaded_by_kind
        counts[label] = counts.get(label, 0) + lines
    return outcome


def select_new_events(con: duckdb.DuckDBPyConnection) -> None:
    """``new_event``: the staged lines that are new events. History is read only within the group's event-time
    windows (``new_event_windows``), one window at a time, which keeps a load's cost independent of history."""
    con.execute(load_sql("duckdb", "select_first_copies"))
    for window_number in range(1, len(new_event_windows(con)) + 1):
        con.execute(load_sql("duckdb", "set_new_event_window"), {"window_number": window_number})
        con.execute(load_sql("duckdb", "select_new_events"))


def new_event_windows(con: duckdb.DuckDBPyConnection) -> list[dict[str, datetime]]:
    """The staged group's event-time windows (after ``select_new_events``), in time order: ``core_start`` /
    ``core_end``, the midnights around one island of the valid lines' event days (``core_end`` excluded), and
    ``window_start`` / ``window_end``, the core widened by a day. A re-sent event keeps its event time, so its
    earlier copy lies within its line's window. Empty when no line is valid."""
    names = ("core_start", "core_end", "window_start", "window_end")
    rows = con.execute(load_sql("duckdb", "select_new_event_windows")).fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(load_sql("duckdb", "drop_staging"))


def _validate_files(
    con: duckdb.DuckDBPyConnection, urls: list[str], interval_start: datetime
) -> dict[str, extract.UnreadableFile]:
    """Validate every line of ``urls`` into ``staged_line``; return the files that could not be read
    to their end, whose lines (those staged before the failure) are removed again.

    Files are read and decompressed one chunk ahead in a thread (zlib releases the GIL), so reading
    the next chunk overlaps DuckDB validating this one; at most two chunks are in memory at once.
    """
    started = time.perf_counter()
    limits = Limits.from_settings()
    unreadable: dict[str, extract.UnreadableFile] = {}
    for url, line_chunk in extract.read_ahead(urls, limits=limits):
        if isinstance(line_chunk, extract.UnreadableFile):
            log.warning("quarantining the file %s", line_chunk)
            con.execute(load_sql("duckdb", "delete_staged_file"), {"source_file": url})
            unreadable[url] = line_chunk
        else:
            validate_chunk(con, url, line_chunk, interval_start, limits)
    log.info("staged %d files in %.2fs", len(urls), time.perf_counter() - started)
    return unreadable


def validate_chunk(
    con: duckdb.DuckDBPyConnection, source_file: str, line_chunk, interval_start: datetime, limits: Limits
) -> None:
    """Validate an Arrow line table (``eventpipe.ingest.linescan``) of ``source_file`` into ``staged_line``."""
    con.register("line_chunk", line_chunk)
    try:
        params = {
            "source_file": source_file,
            "interval_start": interval_start,
            "interval_end": interval_start + INTERVAL,
            "max_line_bytes": limits.max_line_bytes,
            "max_depth": limits.max_depth,
        }
        con.execute(load_sql("duckdb", "validate_chunk"), params)
    finally:
        con.unregister("line_chunk")
