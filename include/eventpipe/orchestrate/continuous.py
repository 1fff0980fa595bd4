"""What the continuous DAGs' tasks do (``load_events``, ``deliver_events``, ``transform``, ``hourly_checks``): each
task body is a call here, so the DAG files only wire.

- ``load_events`` (every minute, ``EVENTPIPE_LOAD_SCHEDULE``): ``load`` takes every landed file the ledger has not
  seen in the window (``eventpipe.ingest.pending``), a bounded amount; ``reconcile_loaded`` checks each batch it
  loaded; ``announce`` emits the raw tables' asset events only when something was committed, so an idle minute
  wakes nothing downstream.
- ``deliver_events`` and ``transform``: on those asset events, or on a timer as well (``AssetOrTimeSchedule``, the
  sweep): both take what the ledger says they have not taken (load commits), so a run woken twice, or by the timer
  with nothing new, does nothing twice.
- ``hourly_checks``: once an arrival hour has closed (and the loads have had a few minutes for its last files),
  the hour reconciled whole and its volume checked.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from eventpipe import settings
from eventpipe.utc import hour_floor, naive_utc, parse_utc

log = logging.getLogger("eventpipe.pipeline")

# The load and the deliveries go before a dbt build's many sensor tasks when they wait for the same slots (the
# embedded default has one): Airflow's default weight (a task's downstream count) would put the build first and make
# Splunk wait for it.
FIRST = {"priority_weight": 100, "weight_rule": "absolute"}

# How long after an arrival hour ends it is checked whole: files written at the hour's last second are listed by the
# next minute's load; a few minutes' margin covers a slow or retried load.
CLOSE_MARGIN = timedelta(minutes=15)


def load_range(params: dict[str, Any] | None) -> tuple[datetime, datetime]:
    """``[start, end)`` of the arrival hours to list: the run's ``start`` / ``end`` params (a catch-up), else the
    poll's window (the last ``EVENTPIPE_LOAD_LOOKBACK_HOURS`` and the current hour)."""
    from eventpipe.ingest import pending

    params = params or {}
    if not params.get("start") and not params.get("end"):
        return pending.window()
    if not (params.get("start") and params.get("end")):
        raise ValueError("give both start and end (arrival hours, UTC when no offset), or neither")
    start, end = naive_utc(parse_utc(params["start"])), naive_utc(parse_utc(params["end"]))
    if end <= start:
        raise ValueError(f"end ({end:%Y-%m-%dT%H:%M}) must be after start ({start:%Y-%m-%dT%H:%M})")
    return start, end


def load(params: dict[str, Any] | None, *, run_id: str, dag_id: str, attempt: int) -> dict[str, Any]:
    from eventpipe.ingest import pending
    from eventpipe.warehouse import open_warehouse

    start, end = load_range(params)
    with open_warehouse() as target:
        outcome = pending.load_pending(target, settings.landing_url(), start, end, run_id=run_id, dag_id=dag_id,
                                       attempt=attempt)  # fmt: skip
    summary = outcome.as_dict() | {"window": [start.isoformat(), end.isoformat()]}
    log.info(
        "load %s..%s: %d of %d new files loaded in %d batch(es), commits %s; %d lines, %d loaded, %d duplicates,"
        " %d quarantined; %d files (%d bytes) left for the next run",
        f"{start:%Y-%m-%dT%H}", f"{end:%Y-%m-%dT%H}", outcome.files_loaded, outcome.files_pending,
        len(outcome.results), outcome.commits or "none", summary["lines"], summary["loaded"], summary["duplicates"],
        summary["quarantined"], outcome.backlog_files, outcome.backlog_bytes,
    )  # fmt: skip
    for result in outcome.results:
        if result.files_quarantined:
            log.warning("%s: %d landing file(s) quarantined whole", result.interval_start, result.files_quarantined)
    return summary


def reconcile_loaded(loaded: dict[str, Any]) -> dict[str, Any]:
    """Each batch the run loaded balances (lines landed = loaded + duplicates + quarantined), else the task fails."""
    from eventpipe.ingest import reconcile
    from eventpipe.orchestrate import outcome
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        results = reconcile.reconcile_batches(target, loaded.get("batches", []))
    for result in results:
        (log.info if result.balanced else log.error)("%s", outcome.reconcile_table(result))
    for result in results:
        reconcile.assert_reconciled(result)
    return {"batches": len(results), "balanced": all(result.balanced for result in results)}


def committed(loaded: dict[str, Any]) -> bool:
    return bool(loaded.get("commits"))


def closed_hour(logical_date: datetime) -> datetime:
    """The arrival hour ``hourly_checks`` checks: the last one that ended at least ``CLOSE_MARGIN`` before the run."""
    return hour_floor(naive_utc(logical_date) - CLOSE_MARGIN) - timedelta(hours=1)


def checked_hours(params: dict[str, Any] | None, logical_date: datetime) -> list[datetime]:
    """The arrival hours ``hourly_checks`` checks: the run's ``start`` / ``end`` range, else the hour that closed."""
    from eventpipe.ingest import pending

    if params and (params.get("start") or params.get("end")):
        return pending.arrival_hours(*load_range(params))
    return [closed_hour(logical_date)]


def reconcile_hours(hours: list[datetime]) -> dict[str, Any]:
    """Each hour reconciled whole; the task fails naming every hour that does not balance."""
    from eventpipe.ingest import reconcile
    from eventpipe.orchestrate import outcome
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        results = [reconcile.reconcile_interval(target, settings.landing_url(), hour) for hour in hours]
    for result in results:
        (log.info if result.balanced else log.error)("%s", outcome.reconcile_table(result))
    unbalanced = [result for result in results if not result.balanced]
    if unbalanced:
        raise reconcile.ReconciliationError(
            f"{len(unbalanced)} of {len(results)} hour(s) do not balance: "
            + "; ".join(f"{r.subject}: {r.problems[0]}" for r in unbalanced[:10])
        )
    if len(results) == 1:
        return outcome.reconcile_summary(results[0])
    return {
        "hours": len(results),
        "balanced": True,
        "lines_landed": sum(r.lines_landed for r in results),
        "in_raw": sum(r.rows_in_raw for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "quarantined": sum(r.rows_in_quarantine for r in results),
        "files_quarantined": sum(r.files_quarantined for r in results),
    }


def check_volumes(hours: list[datetime]) -> tuple[dict[str, Any], list[str]]:
    """Each hour's volume against the same hour a week earlier; the problems, one per hour flagged."""
    from eventpipe.orchestrate import outcome
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        checks = [outcome.check_volume(target, hour) for hour in hours]
    problems = [f"{hour:%Y-%m-%dT%H}:00: {c.problem}" for hour, c in zip(hours, checks, strict=True) if c.problem]
    for problem in problems:
        log.warning("%s", problem)
    if len(checks) == 1:
        return checks[0].as_dict(), problems
    return {"hours": len(checks), "flagged": len(problems)}, problems


def delivery_groups() -> list[str]:
    """What ``deliver_events``' mapped ``deliver`` tasks take, one a task (destination names, comma-separated). On
    Snowflake a task per destination, each its own session on a worker of its own; on the embedded default one task
    for them all, sent side by side in its threads (``eventpipe.deliver.run``): DuckDB takes one writer process at a
    time, so tasks of their own would take turns on its lock."""
    from eventpipe.deliver.config import load_destinations

    names = [destination.name for destination in load_destinations() if destination.enabled]
    if settings.warehouse_target() == "snowflake":
        return names
    return [",".join(names)] if names else []


def deliver_group(group: str, *, run_id: str | None) -> dict[str, Any]:
    """One mapped ``deliver`` task: the group's destinations (``delivery_groups``); fails, after trying them all,
    if one did not deliver everything (its outcome table logged first)."""
    from eventpipe.deliver.config import load_destinations
    from eventpipe.deliver.run import deliver_pending
    from eventpipe.orchestrate.outcome import finish_deliveries
    from eventpipe.warehouse import open_warehouse

    names = set(group.split(","))
    chosen = [destination for destination in load_destinations() if destination.name in names]
    with open_warehouse() as target:
        run = deliver_pending(target, destinations=chosen, run_id=run_id)
    return finish_deliveries([run], log)
