"""Deliver an interval to every configured destination, or resend a range; record each part in ``ops.delivery``.

Destinations are independent: one that fails (a revoked token, an endpoint down past its retries) is recorded
and reported, and the others still deliver; ``DeliveryFailed`` is raised only after every destination was tried,
so the Airflow task fails visibly and its retry resends only what is not delivered yet.

Organizations are independent too: a failure while delivering one organization's parts is recorded in the ledger
(the part ``failed``, with its redacted error) and the destination goes on with the next organization; only a
refused credential (401/403, which no other organization can get past) stops the destination at once. An event
that cannot be parsed or serialised (JSON nested too deeply, say) is dead-lettered with its reason and the rest of
its part is sent. Every error and dead-letter reason written to the ledger is redacted of the connection's secrets.

Parts:
- S3: an organization's events of one kind, cut by count and bytes (``eventpipe.deliver.s3``).
- HEC, Heap, GA4: an organization's events of one kind from one landing file, at most ``PUSH_PART_EVENTS`` a part
  (a file's loaded rows never change, so a part holds the same events on every run; rows a quarantine replay
  adds later form parts of their own, delivered by the next run of the hour). A part that fails
  part-way keeps the ids it delivered and its retry sends only the others (no duplicates from the retry itself).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from eventpipe.deliver import ledger
from eventpipe.deliver.config import Destination, load_destinations
from eventpipe.deliver.events import IntervalEvents, read_interval
from eventpipe.deliver.ledger import LedgerEntry, PartResult
from eventpipe.deliver.parts import GetConnection, open_target
from eventpipe.deliver.transport import (
    DeliveryAuthError,
    redact,
)
from eventpipe.utc import hour_floor, parse_utc
from eventpipe.warehouse import Warehouse, as_warehouse

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """At least one destination did not deliver everything; the message says which and why (secrets redacted)."""


@dataclass
class DestinationOutcome:
    destination: Destination
    parts: list[PartResult] = field(default_factory=list)
    error: str | None = None

    @property
    def delivered(self) -> int:
        return sum(p.delivered for p in self.parts if p.kind != "manifest")

    def summary(self) -> str:
        sent = [p for p in self.parts if not p.skipped]
        skipped = len(self.parts) - len(sent)
        dead = sum(p.dead_lettered for p in self.parts)
        duplicates = sum(p.possible_duplicates for p in self.parts)
        text = (
            f"{self.destination.name} ({self.destination.type}): {self.delivered:,} events in {len(self.parts)} parts "
            f"({len(sent)} sent, {skipped} already delivered), {dead} dead-lettered, "
            f"{duplicates} possibly duplicated by resends"
        )
        return text + (f"; FAILED: {self.error}" if self.error else "")


@dataclass
class DeliveryRun:
    interval_start: datetime
    outcomes: list[DestinationOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[DestinationOutcome]:
        return [o for o in self.outcomes if o.error]

    def summary(self) -> str:
        lines = [f"{self.interval_start:%Y-%m-%dT%H}:00 deliveries"] + [f"  {o.summary()}" for o in self.outcomes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval_start": f"{self.interval_start:%Y-%m-%dT%H:%M:%S}",
            "destinations": {
                o.destination.name: {"delivered": o.delivered, "parts": len(o.parts), "error": o.error}
                for o in self.outcomes
            },
        }


def airflow_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def deliver_interval(
    target: Warehouse | duckdb.DuckDBPyConnection,
    interval_start: datetime,
    *,
    destinations: list[Destination] | None = None,
    get_connection: GetConnection = airflow_connection,
    run_id: str | None = None,
    force: bool = False,
    destination_name: str | None = None,
    organization_id: str | None = None,
) -> DeliveryRun:
    """Deliver one interval. ``force`` resends parts the ledger says are delivered (the ``redeliver`` DAG)."""
    interval_start = hour_floor(interval_start)
    con = as_warehouse(target)
    ledger.ensure_tables(con)
    destinations = [d for d in (destinations if destinations is not None else load_destinations()) if d.enabled]
    if destination_name and destination_name != "*":
        destinations = [d for d in destinations if d.name == destination_name]
        if not destinations:
            raise ValueError(f"no enabled destination named {destination_name!r}")
    run = DeliveryRun(interval_start)
    kinds = {kind for d in destinations for kind in d.kinds}
    events = read_interval(con, interval_start, kinds) if kinds else IntervalEvents(interval_start, {})
    for destination in destinations:
        outcome = DestinationOutcome(destination)
        run.outcomes.append(outcome)
        organizations = [
            org for org in events.organizations() if destination.applies_to(org) and organization_id in (None, "*", org)
        ]
        if not organizations:
            continue
        secrets: list[str] = []
        pending: list[tuple[PartResult, LedgerEntry | None]] = []
        try:
            state = ledger.entries(con, destination.name, interval_start)

            def record(result: PartResult, state=state, outcome=outcome, pending=pending, secrets=secrets) -> None:
                # ops.delivery is a table people read: never a credential in it, whatever the message came from.
                if result.error:
                    result.error = redact(result.error, secrets)
                result.dead_letters = [(i, code, redact(reason, secrets)) for i, code, reason in result.dead_letters]
                outcome.parts.append(result)
                if not result.skipped:
                    pending.append((result, state.get((result.organization_id, result.kind, result.part))))

            failures: list[str] = []
            with open_target(destination, get_connection, secrets) as deliver:
                for org in organizations:
                    try:
                        deliver(org, events, state, force, record)
                    except DeliveryAuthError:  # HEC, Heap and GA4 alike
                        raise
                    except Exception as exc:  # one organization's failure must not stop the others
                        failures.append(f"{org}: {redact(f'{type(exc).__name__}: {exc}', secrets)}")
                        log.error("delivery of %s to %s failed: %s", org, destination.name, failures[-1])
                    finally:
                        ledger.record(con, pending, run_id)
                        pending.clear()
            if failures:
                outcome.error = (
                    f"{len(failures)} of {len(organizations)} organizations failed: "
                    + "; ".join(failures[:5])
                    + ("; ..." if len(failures) > 5 else "")
                )
        except Exception as exc:  # one destination's failure must not stop the others
            outcome.error = redact(f"{type(exc).__name__}: {exc}", secrets)
            log.error("delivery to %s failed: %s", destination.name, outcome.error)
    for outcome in run.outcomes:  # the task logs them as one table (eventpipe.orchestrate.outcome)
        log.debug("%s", outcome.summary())
    return run


def raise_if_failed(run: DeliveryRun) -> None:
    if run.failed:
        raise DeliveryFailed(
            f"{len(run.failed)} of {len(run.outcomes)} destinations failed for {run.interval_start:%Y-%m-%dT%H}:00:\n"
            + "\n".join(f"  {o.destination.name}: {o.error}" for o in run.failed)
        ) from None


def deliver_range(
    target: Warehouse | duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    **options: Any,
) -> list[DeliveryRun]:
    """Every loaded interval in ``[start, end)`` (from ``ops.loaded_file``), oldest first."""
    warehouse = as_warehouse(target)
    ledger.ensure_tables(warehouse)
    rows = warehouse.fetchall("loaded_intervals", {"range_start": hour_floor(start), "range_end": end})
    return [deliver_interval(warehouse, interval, **options) for (interval,) in rows]


def deliver_hour(
    interval_start: datetime,
    *,
    run_id: str | None = None,
) -> DeliveryRun:
    """What the ``deliver`` task calls: deliver one interval from the configured warehouse (failures recorded in the
    run, not raised: ``eventpipe.orchestrate.outcome.finish_deliveries`` logs the table, then fails the task)."""
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        return deliver_interval(target, interval_start, run_id=run_id)


def redeliver_range(
    start: str | datetime,
    end: str | datetime,
    *,
    destination_name: str = "*",
    organization_id: str = "*",
    run_id: str | None = None,
) -> list[DeliveryRun]:
    """What the ``redeliver`` DAG's resend calls: resend every loaded interval in ``[start, end)`` (parameters
    checked by ``eventpipe.deliver.redeliver.parse_request`` first)."""
    from eventpipe.warehouse import open_warehouse

    start, end = parse_utc(start), parse_utc(end)
    if end <= start:
        raise ValueError(f"end ({end:%Y-%m-%dT%H:%M}) must be after start ({start:%Y-%m-%dT%H:%M})")
    with open_warehouse() as target:
        runs = deliver_range(
            target,
            start,
            end,
            force=True,
            run_id=run_id,
            destination_name=destination_name,
            organization_id=organization_id,
        )
    log.info("resent %d intervals in [%s, %s)", len(runs), start, end)
    return runs
