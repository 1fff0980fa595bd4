"""Extract, validate and load one arrival-hour interval of landing files into the raw tables.

An interval's new files load in groups of bounded size (``EVENTPIPE_LOAD_GROUP_BYTES``). A group's
raw rows, quarantined lines and ledger rows commit together or not at all, so a task killed
half-way leaves only whole files loaded, and a re-run skips exactly the files the ledger holds.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from eventpipe import extract, settings, storage
from eventpipe.sql import load_sql

log = logging.getLogger(__name__)

KINDS = ("session", "audit", "platform")
INTERVAL = timedelta(hours=1)


@dataclass
class LoadResult:
    batch_id: str
    interval_start: datetime
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    loaded_by_kind: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self) | {"interval_start": self.interval_start.isoformat()}


def hour_floor(moment: datetime) -> datetime:
    """The UTC arrival hour containing ``moment``, as a naive UTC datetime (how the warehouse stores time)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(minute=0, second=0, microsecond=0)


def make_batch_id(interval_start: datetime, run_id: str | None, attempt: int | None = None) -> str:
    """Ties every loaded row to the interval and the Airflow run (and try) that loaded it.

    A cleared or retried run keeps its run_id, so the attempt makes each load's id unique.
    """
    suffix = f"try{attempt}" if attempt is not None else uuid.uuid4().hex[:8]
    return f"{hour_floor(interval_start):%Y%m%dT%H}__{run_id or 'manual'}__{suffix}"


def load_interval(
    con: duckdb.DuckDBPyConnection,
    landing: str,
    interval_start: datetime,
    *,
    run_id: str | None = None,
    dag_id: str | None = None,
    attempt: int | None = None,
) -> LoadResult:
    interval_start = hour_floor(interval_start)
    batch_id = make_batch_id(interval_start, run_id, attempt)
    started_at = _now()
    result = LoadResult(batch_id=batch_id, interval_start=interval_start)

    files = extract.partition_files(landing, interval_start)
    already = _already_loaded(con, [f.url for f in files])
    new_files = [f for f in files if f.url not in already]
    result.files_seen, result.files_loaded = len(files), len(new_files)
    result.files_skipped = len(files) - len(new_files)
    log.info("interval %s: %d files, %d already loaded", interval_start, len(files), result.files_skipped)

    for group in group_files(new_files, settings.load_group_bytes()):
        _load_group(con, group, interval_start, batch_id, result)
    con.execute(
        load_sql("duckdb", "insert_load_batch"),
        {
            "batch_id": batch_id,
            "interval_start": interval_start,
            "dag_id": dag_id,
            "run_id": run_id,
            "files_seen": result.files_seen,
            "files_loaded": result.files_loaded,
            "files_skipped": result.files_skipped,
            "lines": result.lines,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "quarantined": result.quarantined,
            "started_at": started_at,
            "finished_at": _now(),
        },
    )
    log.info("interval %s loaded: %s", interval_start, result.to_dict())
    return result


def group_files(files: list[storage.StoredFile], max_bytes: int) -> list[list[storage.StoredFile]]:
    """Consecutive groups of files of at most ``max_bytes`` stored bytes (a larger file is a group alone).

    Each group loads in its own transaction, so memory is bounded by the group, not by the hour.
    """
    groups: list[list[storage.StoredFile]] = []
    size = 0
    for stored in files:
        if not groups or size + stored.size > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(stored)
        size += stored.size
    return groups


def _load_group(con, group: list[storage.StoredFile], interval_start: datetime, batch_id: str, result) -> None:
    """Stage, dedup and load one group of files, and record them in the ledger, all in one transaction."""
    con.begin()
    try:
        con.execute(load_sql("duckdb", "create_staged_line"))
        _stage_files(con, [stored.url for stored in group], interval_start)
        # Anti-joined against everything committed so far, earlier groups of this hour included.
        con.execute(load_sql("duckdb", "select_new_events"))
        loaded_at = _now()
        params = {"batch_id": batch_id, "loaded_at": loaded_at}
        for kind in KINDS:
            con.execute(load_sql("duckdb", f"insert_{kind}_event"), params)
        con.execute(load_sql("duckdb", "insert_quarantined_event"), params)
        _record_files(con, group, interval_start, batch_id, loaded_at, result)
        for outcome, label, lines in con.execute(load_sql("duckdb", "staged_outcomes")).fetchall():
            counts = result.quarantined_by_reason if outcome == "quarantined" else result.loaded_by_kind
            counts[label] = counts.get(label, 0) + lines
        con.execute(load_sql("duckdb", "drop_staging"))
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _already_loaded(con: duckdb.DuckDBPyConnection, urls: list[str]) -> set[str]:
    if not urls:
        return set()
    rows = con.execute(load_sql("duckdb", "select_loaded_files"), {"urls": urls}).fetchall()
    return {row[0] for row in rows}


def _stage_files(con: duckdb.DuckDBPyConnection, urls: list[str], interval_start: datetime) -> None:
    """Validate every line of ``urls`` into ``staged_line``.

    Files are read and decompressed one chunk ahead in a thread (zlib releases the GIL), so reading
    the next chunk overlaps DuckDB validating this one; at most two chunks are in memory at once.
    """
    validate = load_sql("duckdb", "validate_chunk")
    interval_end = interval_start + INTERVAL
    started = time.perf_counter()
    for url, line_chunk in extract.read_ahead(urls):
        con.register("line_chunk", line_chunk)  # replaces the previous chunk's view
        params = {"source_file": url, "interval_start": interval_start, "interval_end": interval_end}
        con.execute(validate, params)
    if urls:
        con.unregister("line_chunk")
    log.info("staged %d files in %.2fs", len(urls), time.perf_counter() - started)


def _record_files(con, new_files, interval_start, batch_id, loaded_at, result: LoadResult) -> None:
    outcomes = {row[0]: row[1:] for row in con.execute(load_sql("duckdb", "file_outcomes")).fetchall()}
    for stored in new_files:
        lines, loaded, duplicates, quarantined = outcomes.get(stored.url, (0, 0, 0, 0))
        con.execute(
            load_sql("duckdb", "insert_loaded_file"),
            {
                "source_file": stored.url,
                "interval_start": interval_start,
                "batch_id": batch_id,
                "file_bytes": stored.size,
                "lines": lines,
                "loaded": loaded,
                "duplicates": duplicates,
                "quarantined": quarantined,
                "loaded_at": loaded_at,
            },
        )
        result.lines += lines
        result.loaded += loaded
        result.duplicates += duplicates
        result.quarantined += quarantined
