"""What landed where: the figures `eventpipe demo` and `eventpipe run` print, read from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from eventpipe.sql import load_sql


@dataclass
class Summary:
    files: int
    lines: int
    loaded: int
    duplicates: int
    quarantined: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    events_by_table: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    sessions_closed: int = 0
    completion_rate: float | None = None
    avg_csat: float | None = None
    csat_responses: int = 0


def summarize(con: duckdb.DuckDBPyConnection) -> Summary:
    summary = Summary(*con.execute(load_sql("duckdb", "load_totals")).fetchone())
    summary.quarantined_by_reason = dict(con.execute(load_sql("duckdb", "quarantine_by_reason")).fetchall())
    summary.events_by_table = dict(con.execute(load_sql("duckdb", "raw_event_counts")).fetchall())
    if _has_table(con, "marts", "fct_sessions"):
        row = con.execute(load_sql("duckdb", "session_summary")).fetchone()
        (
            summary.sessions,
            summary.sessions_closed,
            summary.completion_rate,
            summary.avg_csat,
            summary.csat_responses,
        ) = row
    return summary


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    params = {"table_schema": schema, "table_name": table}
    return con.execute(load_sql("duckdb", "table_exists"), params).fetchone()[0]


def render(summary: Summary) -> str:
    lines = [
        f"landing files loaded   {summary.files:>10,}",
        f"lines landed           {summary.lines:>10,}",
        f"  events loaded        {summary.loaded:>10,}",
        f"  duplicates dropped   {summary.duplicates:>10,}",
        f"  quarantined          {summary.quarantined:>10,}",
    ]
    lines += [f"    {reason:<24}{count:>8,}" for reason, count in summary.quarantined_by_reason.items()]
    lines += [f"{table:<23}{count:>11,}" for table, count in summary.events_by_table.items()]
    lines.append(f"sessions               {summary.sessions:>10,}  ({summary.sessions_closed:,} closed)")
    if summary.completion_rate is not None:
        lines.append(f"completion rate        {summary.completion_rate:>10.1%}")
    if summary.avg_csat is not None:
        lines.append(f"average CSAT           {summary.avg_csat:>10.2f}  ({summary.csat_responses:,} responses)")
    return "\n".join(lines)
