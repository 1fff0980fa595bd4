"""The deliveries part of the run summary: what the ledger says each destination received, next to what the
marts hold, and what the local receivers actually wrote (counted from their files, by distinct event id)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventpipe import settings
from eventpipe.contract import ANALYTICS, AUDIT, SESSION

KIND_LABELS = {SESSION: "App Events", AUDIT: "Audit logs", ANALYTICS: "analytics events"}


@dataclass
class DeliverySummary:
    # (destination, type, kind, parts, events, delivered, dead-lettered, parts not delivered)
    rows: list[tuple] = field(default_factory=list)
    marts: dict[str, int] = field(default_factory=dict)
    received: dict[str, tuple[int, int]] = field(default_factory=dict)  # receiver -> (lines, distinct event ids)


def summarize(warehouse: Any) -> DeliverySummary | None:
    """None when this warehouse has no delivery ledger (nothing delivered yet)."""
    exists = warehouse.fetchall("table_exists", {"table_schema": "ops", "table_name": "delivery_part"})[0][0]
    if not exists:
        return None
    # Counts as int: Snowflake's SUM is a NUMBER (Decimal), DuckDB's an integer.
    rows = [(*row[:3], *(int(count or 0) for count in row[3:8])) for row in warehouse.fetchall("delivery_summary")]
    result = DeliverySummary(rows=rows)
    marts = warehouse.fetchall("table_exists", {"table_schema": "marts", "table_name": "fct_audit_events"})[0][0]
    if marts:
        result.marts = {kind: int(n) for kind, n in warehouse.fetchall("delivery_expected")}
    result.received = received_locally(settings.eventpipe_home())
    return result


def received_locally(home: Path) -> dict[str, tuple[int, int]]:
    """Lines and distinct event ids the local receivers wrote under ``home`` (and objects in the local S3)."""
    found: dict[str, tuple[int, int]] = {}
    readers = {
        "splunk": ("received/splunk", "*.ndjson", lambda r: r["fields"]["event_id"]),
        "heap": ("received/heap", "*.ndjson", lambda r: r["idempotency_key"]),
        "ga4": ("received/ga4", "G-*.ndjson", lambda r: r["params"]["event_id"]),
    }
    for name, (folder, pattern, event_id) in readers.items():
        paths = sorted((home / folder).glob(pattern))
        if paths:
            ids = [event_id(json.loads(line)) for path in paths for line in _lines(path)]
            found[name] = (len(ids), len(set(ids)))
    for kind in (SESSION, AUDIT):  # what S3 receives, under a folder named by kind
        paths = sorted((home / "s3").glob(f"*/**/{kind}/dt=*/hour=*/*.json.gz"))
        if paths:
            ids = [json.loads(line)["eventId"] for path in paths for line in _lines(path)]
            found[f"s3 {kind}"] = (len(ids), len(set(ids)))
    return found


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line for line in handle if line.strip()]


def render(summary: DeliverySummary | None) -> list[str]:
    if summary is None or not summary.rows:
        return []
    lines = ["deliveries (ops.delivery_part)         delivered  dead-letter  not-delivered parts  marts"]
    for destination, _type, kind, _parts, _events, delivered, dead, failed in summary.rows:
        if kind == "manifest":
            continue
        expected = summary.marts.get(kind)
        check = "" if expected is None else f"{expected:>7,} {'=' if delivered + dead == expected else '!='}"
        label = f"{destination} {KIND_LABELS.get(kind, kind)}"
        lines.append(f"  {label:<35}{delivered:>10,}{dead:>13,}{failed:>21,}  {check}")
    if summary.received:
        lines.append("received locally (lines / distinct event ids)")
        for name, (count, distinct) in summary.received.items():
            lines.append(f"  {name:<35}{count:>10,} / {distinct:,}")
    return lines
