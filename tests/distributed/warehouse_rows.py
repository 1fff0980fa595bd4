"""What a run left, in a form two runs can be compared by: the emulated Snowflake's tables (read through the
connector), what the local receivers were sent and the S3 stand-in's objects.

Compared row for row (as tests/e2e/test_two_targets.py does): every raw table, the quarantine, every mart, with
the columns that record when or by which run a row was loaded left out. Two things depend, by nature, on which of
two hours that hold the same event (an at-least-once resend hours later) loaded it first, which concurrent runs
decide by timing: the ledger's per-file split between "loaded" and "duplicate" (their sum, the file's lines and
its quarantine are compared row for row), and which load commit (and its number), so which delivery unit and part,
carries the event (compared as the multiset of events each destination received and the per-organization totals
of ``ops.delivery_part``).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

from eventpipe.devtools import emulator
from tests.warehouse_compare import MARTS, normalized

ROW_TABLES = (
    "raw.session_event",
    "raw.audit_event",
    "raw.platform_event",
    "raw.quarantined_event",
    *(f"marts.{mart}" for mart in MARTS),
)
ID_KEYS = ("eventId", "idempotency_key", "event_id")
# Which load commit took a line: concurrent runs number their commits in the order they happen to commit.
BY_TIMING = frozenset({"commit_seq"})


def _rows(cursor, sql: str) -> tuple[list[str], list[tuple]]:
    cursor.execute(sql)
    return normalized([d[0].lower() for d in cursor.description], cursor.fetchall(), BY_TIMING)


def read_tables(conn) -> dict[str, tuple[list[str], list[tuple]]]:
    tables = {}
    with conn.cursor() as cursor:
        for table in ROW_TABLES:
            tables[table] = _rows(cursor, f"select * from {table}")
        tables["ops.loaded_file"] = _rows(
            cursor,
            "select source_file, interval_start, file_bytes, lines, loaded + duplicates as kept_or_duplicate,"
            " quarantined from ops.loaded_file",
        )
        tables["ops.delivery_part (per destination, organization, kind)"] = _rows(
            cursor,
            "select destination, organization_id, kind, count(distinct status) as statuses, min(status) as status,"
            " sum(events) as events, sum(delivered) as delivered, sum(dead_lettered) as dead_lettered"
            " from ops.delivery_part where kind <> 'manifest' group by destination, organization_id, kind",
        )
        tables["counts"] = _rows(
            cursor,
            "select (select count(*) from raw.session_event) + (select count(*) from raw.audit_event)"
            " + (select count(*) from raw.platform_event) as events,"
            " (select count(distinct event_id) from (select event_id from raw.session_event union all"
            " select event_id from raw.audit_event union all select event_id from raw.platform_event)) as ids,"
            " (select sum(loaded) from ops.loaded_file) as loaded,"
            " (select sum(duplicates) from ops.loaded_file) as duplicates",
        )
    return tables


def connect(endpoint):
    from snowflake import connector

    return connector.connect(
        user="reader",
        password="emulator",
        account="fakesnow",
        host=endpoint.host,
        port=endpoint.port,
        protocol="http",
        database="ANALYTICS",
    )


def read_running(endpoint) -> dict:
    conn = connect(endpoint)
    try:
        return read_tables(conn)
    finally:
        conn.close()


def read_home(home: Path) -> dict:
    """A stopped emulator's tables (a single-process run's), through the connector as for the running one."""
    with emulator.running(directory=home / "snowflake", log_path=home / "logs" / "emulator-read.log") as endpoint:
        return read_running(endpoint)


def _ids(value) -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, str):
                found.append(item)
            else:
                found += _ids(item)
    elif isinstance(value, list):
        for item in value:
            found += _ids(item)
    return found


def delivered(home: Path) -> dict[str, Counter]:
    """Per destination (receiver file, S3 kind), how many times each event id arrived."""
    out: dict[str, Counter] = {}
    for path in sorted((home / "received").rglob("*.ndjson")):
        name = f"{path.parent.name}/{path.name}"
        out[name] = Counter(i for line in path.read_text().splitlines() if line for i in _ids(json.loads(line)))
    for path in sorted((home / "s3").rglob("*.json.gz")):
        if "manifest" in path.name:
            continue
        kind = next((part for part in path.parts if part in ("Session", "Audit")), "other")
        counter = out.setdefault(f"s3/{kind}", Counter())
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            if line:
                counter.update(_ids(json.loads(line))[:1])
    return out


def differences(left: dict, right: dict) -> list[str]:
    """What differs between two readings, table by table (an empty list: equal)."""
    problems = []
    for table in sorted(set(left) | set(right)):
        if table not in left or table not in right:
            problems.append(f"{table}: only on one side")
            continue
        if left[table] != right[table]:
            (columns, a), (_, b) = left[table], right[table]
            only_a = [row for row in a if row not in b][:3]
            only_b = [row for row in b if row not in a][:3]
            problems.append(f"{table} ({len(a)} vs {len(b)} rows; {columns}):\n left {only_a}\n right {only_b}")
    return problems


def stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")
