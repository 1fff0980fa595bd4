"""What landed where: the figures `eventpipe demo` and `eventpipe run` print, read from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from eventpipe.warehouse import Warehouse, as_warehouse


@dataclass
class Summary:
    files: int
    lines: int
    loaded: int
    duplicates: int
    quarantined: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    files_quarantined: int = 0  # landing files quarantined whole (unreadable), not loaded since
    events_by_table: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    sessions_closed: int = 0
    completion_rate: float | None = None
    avg_csat: float | None = None
    csat_responses: int = 0
    deliveries: Any = None  # eventpipe.deliver.summary.DeliverySummary, when the ledger exists


def summarize(target: Warehouse | duckdb.DuckDBPyConnection) -> Summary:
    warehouse = as_warehouse(target)
    summary = Summary(*(int(total) for total in warehouse.fetchall("load_totals")[0]))
    summary.quarantined_by_reason = dict(warehouse.fetchall("quarantine_by_reason"))
    summary.files_quarantined = int(warehouse.fetchall("quarantined_file_count")[0][0])
    summary.events_by_table = dict(warehouse.fetchall("raw_event_counts"))
    if _has_table(warehouse, "marts", "fct_sessions"):
        row = warehouse.fetchall("session_summary")[0]
        (
            summary.sessions,
            summary.sessions_closed,
            summary.completion_rate,
            summary.avg_csat,
            summary.csat_responses,
        ) = row
    from eventpipe.deliver import summary as deliveries

    summary.deliveries = deliveries.summarize(warehouse)
    return summary


def _has_table(warehouse: Warehouse, schema: str, table: str) -> bool:
    return bool(warehouse.fetchall("table_exists", {"table_schema": schema, "table_name": table})[0][0])


def render(summary: Summary) -> str:
    lines = [
        f"landing files loaded   {summary.files:>10,}",
        f"files quarantined      {summary.files_quarantined:>10,}",
        f"lines landed           {summary.lines:>10,}",
        f"  events loaded        {summary.loaded:>10,}",
        f"  duplicates dropped   {summary.duplicates:>10,}",
        f"  lines quarantined    {summary.quarantined:>10,}",
    ]
    lines += [f"    {reason:<24}{count:>8,}" for reason, count in summary.quarantined_by_reason.items()]
    lines += [f"{table:<23}{count:>11,}" for table, count in summary.events_by_table.items()]
    lines.append(f"sessions               {summary.sessions:>10,}  ({summary.sessions_closed:,} closed)")
    if summary.completion_rate is not None:
        lines.append(f"completion rate        {summary.completion_rate:>10.1%}")
    if summary.avg_csat is not None:
        lines.append(f"average CSAT           {summary.avg_csat:>10.2f}  ({summary.csat_responses:,} responses)")
    from eventpipe.deliver import summary as deliveries

    lines += deliveries.render(summary.deliveries)
    return "\n".join(lines)
