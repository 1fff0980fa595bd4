"""Warehouse rows in a form two runs (two engines, or one process against a distributed backfill) compare by.

Used by tests/e2e/test_two_targets.py and tests/distributed/warehouse_rows.py.
"""

from __future__ import annotations

import json
from decimal import Decimal

MARTS = (
    "fct_session_events",
    "fct_sessions",
    "fct_custom_metric_values",
    "fct_audit_events",
    "fct_platform_events",
    "agg_app_daily",
    "agg_platform_daily",
)
# When and by which run a row was loaded or delivered: differs between any two runs, on any target (``channel``: the
# HEC request channel a part was sent on, a new uuid each time).
RUN_COLUMNS = {
    *("batch_id", "quarantined_at", "loaded_at", "run_id", "updated_at"),
    *("completed_at", "recorded_at", "channel"),
}


def _value(item):
    if isinstance(item, Decimal | float):
        return round(float(item), 9)
    if isinstance(item, bytearray):
        return bytes(item)
    if isinstance(item, str) and item[:1] in "{[":
        try:
            return json.loads(item)
        except ValueError:
            return item
    return item


def normalized(
    columns: list[str], rows: list[tuple], drop: frozenset[str] = frozenset()
) -> tuple[list[str], list[tuple]]:
    """Rows comparable across engines and runs: run columns (and ``drop``) dropped, JSON parsed, numbers as rounded
    floats, sorted."""
    keep = [i for i, name in enumerate(columns) if not name.startswith("_") and name not in RUN_COLUMNS | drop]
    out = [tuple(_value(row[i]) for i in keep) for row in rows]
    return [columns[i] for i in keep], sorted(out, key=lambda row: json.dumps(row, default=str))
