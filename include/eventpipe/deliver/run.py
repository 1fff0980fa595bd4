"""Deliver what every destination has not received yet, or resend a range; record each part as it is acknowledged.

What a destination takes next is decided by the ledger (``eventpipe.deliver.ledger``): every unit of the kinds it
takes, for the organizations it is configured for, without a done row for it, in commit order, up to the last
commit when the run started. Not a time: a load that commits late is delivered by the next run, never skipped.

- Destinations are independent, and delivered side by side: one that fails (a revoked token, an endpoint down past
  its retries) is recorded and reported, and the others still deliver; ``DeliveryFailed`` is raised only after every
  destination was tried, so the Airflow task fails visibly and its retry sends only what is not delivered yet.
- Organizations are independent too, and sent side by side (``ORGANIZATIONS_AT_ONCE``): a unit that fails stops
  that organization's units at that destination for the run (its part recorded ``failed``, the error redacted), the
  others go on; only a refused credential (401/403) stops the destination at once.
- One run at a time delivers to a destination (its claim, ``Ledger.claim``); a run that finds the claim held leaves
  the destination to the run that holds it and says so.
- Work is bounded per run (``EVENTPIPE_DELIVERY_MAX_EVENTS`` per destination, default 1,000,000, a unit at least):
  a backlog flows through over several runs, in bounded memory (``eventpipe.settings.delivery_chunk_events``, and
  ``max_in_flight`` parts per destination).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventpipe.deliver import manifests
from eventpipe.deliver.config import WILDCARD, Destination, load_destinations
from eventpipe.deliver.events import stream
from eventpipe.deliver.ledger import DELIVERED, ClaimHeld, Done, Ledger, Renewal, Unit
from eventpipe.deliver.ledger import ensure_tables as ensure_ledger
from eventpipe.deliver.parts import cut
from eventpipe.deliver.sending import PartOutcome, Sender
from eventpipe.deliver.transport import DeliveryAuthError, connection_secrets, redact
from eventpipe.utc import hour_floor, parse_utc
from eventpipe.warehouse import Warehouse

log = logging.getLogger(__name__)
# Each in commit order; their parts share the destination's max_in_flight and parts cut ahead: memory does not grow.
ORGANIZATIONS_AT_ONCE = 4
DUPLICATING = ("splunk_hec", "ga4")  # keep every copy they are sent


class DeliveryFailed(Exception):
    """At least one destination did not deliver everything; the message says which and why (secrets redacted)."""


def max_events_per_run() -> int:
    return int(os.environ.get("EVENTPIPE_DELIVERY_MAX_EVENTS", "1000000"))


@dataclass
class DestinationOutcome:
    destination: Destination
    units: int = 0  # units delivered whole by this run
    units_left: int = 0  # pending units left for the next run (the run's bound)
    parts_sent: int = 0
    parts_skipped: int = 0  # delivered by an earlier run
    parts_resolved: int = 0  # in doubt after a crash, found delivered
    delivered: dict[str, int] = field(default_factory=dict)  # events delivered by this run, per kind
    dead_lettered: int = 0
    too_old: int = 0
    possible_duplicates: int = 0
    error: str | None = None
    held_by: str | None = None  # another run was delivering to it

    def count(self, outcome: PartOutcome, kind: str) -> None:
        record = outcome.record
        if outcome.skipped:
            self.parts_skipped += 1
            return
        self.parts_resolved += outcome.resolved
        self.parts_sent += not outcome.resolved
        self.delivered[kind] = self.delivered.get(kind, 0) + record.delivered
        self.dead_lettered += len(outcome.dead)
        self.too_old += outcome.too_old

    def summary(self) -> str:
        delivered = sum(self.delivered.values())
        text = (
            f"{self.destination.name} ({self.destination.type}): {delivered:,} events in {self.parts_sent} parts sent,"
            f" {self.parts_skipped} already delivered, {self.parts_resolved} resolved after a crash;"
            f" {self.dead_lettered} dead-lettered ({self.too_old} too old), {self.possible_duplicates} possibly"
            f" duplicated; {self.units} units done, {self.units_left} left"
        )
        if self.held_by:
            text += f"; left to {self.held_by}"
        return text + (f"; FAILED: {self.error}" if self.error else "")


@dataclass
class DeliveryRun:
    through: int  # the last commit the run looked at
    outcomes: list[DestinationOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[DestinationOutcome]:
        return [o for o in self.outcomes if o.error]

    def summary(self) -> str:
        return "\n".join([f"deliveries through commit {self.through}"] + [f"  {o.summary()}" for o in self.outcomes])

    def to_dict(self) -> dict[str, Any]:
        return {
            "through_commit": self.through,
            "destinations": {
                o.destination.name: {"delivered": o.delivered, "parts_sent": o.parts_sent, "error": o.error}
                for o in self.outcomes
            },
        }


def airflow_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def deliver_pending(
    warehouse: Warehouse,
    *,
    destinations: list[Destination] | None = None,
    get_connection=airflow_connection,
    run_id: str | None = None,
    destination_name: str = WILDCARD,
    organization_id: str = WILDCARD,
    max_events: int | None = None,
) -> DeliveryRun:
    """Send every destination what it has not received, up to the last commit now (at most ``max_events`` a
    destination)."""
    ledger = Ledger(warehouse, run_id)
    ensure_ledger(warehouse)
    run = DeliveryRun(ledger.last_commit())

    def deliver(destination: Destination) -> DestinationOutcome:
        units = [
            unit
            for unit in ledger.pending(destination.name, destination.kinds, run.through)
            if destination.applies_to(unit.organization_id) and organization_id in (WILDCARD, unit.organization_id)
        ]
        return _deliver(ledger, destination, units, get_connection, max_events or max_events_per_run())

    run.outcomes = _side_by_side(deliver, _chosen(destinations, destination_name))
    return run


def resend(
    warehouse: Warehouse,
    start: datetime,
    end: datetime,
    *,
    destinations: list[Destination] | None = None,
    get_connection=airflow_connection,
    run_id: str | None = None,
    destination_name: str = WILDCARD,
    organization_id: str = WILDCARD,
    include_delivered: bool = False,
) -> DeliveryRun:
    """The units of the arrival hours in ``[start, end)``: what the destinations do not have, or with
    ``include_delivered`` everything again (HEC and GA4 then get second copies, counted as possible duplicates)."""
    ledger = Ledger(warehouse, run_id)
    ensure_ledger(warehouse)
    run = DeliveryRun(ledger.last_commit())

    def deliver(destination: Destination) -> DestinationOutcome:
        units = [
            unit
            for unit in ledger.in_range(destination.kinds, hour_floor(start), end)
            if destination.applies_to(unit.organization_id) and organization_id in (WILDCARD, unit.organization_id)
        ]
        return _deliver(ledger, destination, units, get_connection, None, again=include_delivered)

    run.outcomes = _side_by_side(deliver, _chosen(destinations, destination_name))
    return run


def _side_by_side(deliver, destinations: list[Destination]) -> list[DestinationOutcome]:
    """Every destination at once (each bounded on its own; their ledger writes share one group commit), the
    outcomes in the destinations' order; ``_deliver`` records a destination's failure in its outcome."""
    if len(destinations) <= 1:
        return [deliver(destination) for destination in destinations]
    with ThreadPoolExecutor(len(destinations), thread_name_prefix="destination") as pool:
        return list(pool.map(deliver, destinations))


def _chosen(destinations: list[Destination] | None, name: str) -> list[Destination]:
    chosen = [d for d in (destinations if destinations is not None else load_destinations()) if d.enabled]
    if name != WILDCARD:
        chosen = [d for d in chosen if d.name == name]
        if not chosen:
            raise ValueError(f"no enabled destination named {name!r}")
    return chosen


def _deliver(
    ledger: Ledger,
    destination: Destination,
    units: list[Unit],
    get_connection,
    max_events: int | None,
    again: bool = False,
) -> DestinationOutcome:
    outcome = DestinationOutcome(destination)
    if max_events is not None:
        taken, events = [], 0
        for unit in units:
            if taken and events + unit.events > max_events:
                break
            taken.append(unit)
            events += unit.events
        outcome.units_left, units = len(units) - len(taken), taken
    stale = manifests.stale(ledger, destination.name) if destination.type == "s3" else []
    if not units and not stale:
        return outcome
    secrets: list[str] = []
    try:
        conn = get_connection(destination.connection_id)
        secrets.extend(connection_secrets(conn))
        ledger.claim(destination.name)
    except ClaimHeld as held:
        outcome.held_by = str(held)
        log.warning("%s", held)
        return outcome
    except Exception as exc:  # a missing Connection, say: this destination only
        outcome.error = redact(f"{type(exc).__name__}: {exc}", secrets)
        return outcome
    sender = Sender(destination, conn, ledger, secrets)
    failures: list[str] = []
    failed_orgs: set[str] = set()
    renewal = Renewal(ledger, destination.name)
    counting, refused = threading.Lock(), threading.Event()

    def organization(org_units: list[Unit]) -> None:
        """One organization's units in commit order; then (S3) the manifest of each hour it wrote objects for."""
        hours: dict[datetime, int] = {}  # hour -> the last commit delivered into it
        try:
            for unit in org_units:
                if refused.is_set():  # the destination refused the credentials: nothing more is sent to it
                    return
                renewal.check()
                if _unit(ledger, sender, shared, unit, outcome, again) and destination.type == "s3":
                    hours[unit.interval_start] = max(hours.get(unit.interval_start, 0), unit.commit_seq)
        except DeliveryAuthError:
            refused.set()
            raise
        except Exception as exc:  # one organization's failure must not stop the others
            with shared.counting:
                failed_orgs.add(unit.organization_id)
                failures.append(f"{unit.label()}: {redact(f'{type(exc).__name__}: {exc}', secrets)}")
                log.error("delivery to %s failed: %s", destination.name, failures[-1])
        finally:
            for hour, commit_seq in hours.items():  # what was delivered is listed, even when a later unit failed
                manifests.write(ledger, sender, org_units[0].organization_id, hour, commit_seq)

    by_organization: dict[str, list[Unit]] = {}
    for unit in units:
        by_organization.setdefault(unit.organization_id, []).append(unit)
    try:  # organizations side by side (a catch-up's many small units would wait on each other's round trips)
        manifests.repair(ledger, sender, stale)
        with (
            ThreadPoolExecutor(destination.max_in_flight, thread_name_prefix=f"deliver-{destination.name}") as pool,
            ThreadPoolExecutor(ORGANIZATIONS_AT_ONCE, thread_name_prefix=f"units-{destination.name}") as orgs,
        ):
            shared = _Shared(pool, threading.Semaphore(destination.max_in_flight * 2), counting)
            running = [orgs.submit(organization, org_units) for org_units in by_organization.values()]
            for future in running:
                future.result()  # an authentication error stops the destination
        if failures:
            outcome.error = (
                f"{len(failed_orgs)} organization(s) failed: " + "; ".join(failures[:5])
                + ("; ..." if len(failures) > 5 else "")
            )  # fmt: skip
    except Exception as exc:  # one destination's failure must not stop the others
        outcome.error = redact(f"{type(exc).__name__}: {exc}", secrets)
        log.error("delivery to %s failed: %s", destination.name, outcome.error)
    finally:
        renewal.stop()
        sender.close()
        ledger.release(destination.name)
    return outcome


@dataclass
class _Shared:  # what the organizations sending side by side to one destination share
    pool: ThreadPoolExecutor  # the destination's parts in flight: max_in_flight
    slots: threading.Semaphore  # parts cut ahead of the senders, all organizations together: bounded memory
    counting: threading.Lock  # the outcome's counts


def _unit(ledger: Ledger, sender: Sender, shared: _Shared, unit: Unit, outcome, again: bool) -> bool:
    """Every part of one unit (``max_in_flight`` at once), then the unit's done row once every part is delivered,
    written with the parts' rows that waited for it (``PartOutcome.deferred``); whether it delivered any event."""
    destination = sender.destination
    previous = ledger.unit_parts(destination.name, unit)
    counted = {number: record.possible_duplicates for number, record in previous.items()}
    if again:  # a resend of what was delivered: HEC and GA4 keep the second copy
        for record in previous.values():
            if record.status == DELIVERED:
                record.status = "resent"
                if destination.type in DUPLICATING:
                    record.possible_duplicates += record.delivered
    futures: list[Future] = []
    for part in cut(destination, unit, stream(ledger.fetchall, unit)):
        shared.slots.acquire()
        future = shared.pool.submit(sender.send, part, previous.get(part.number))
        future.add_done_callback(lambda _done: shared.slots.release())
        futures.append(future)
    results = [future.exception() or future.result() for future in futures]
    errors = [result for result in results if isinstance(result, BaseException)]
    parts = [result for result in results if isinstance(result, PartOutcome)]
    with shared.counting:
        for part_outcome in parts:
            outcome.count(part_outcome, unit.kind)
            if not part_outcome.skipped:
                record = part_outcome.record
                outcome.possible_duplicates += record.possible_duplicates - counted.get(record.part, 0)
    deferred = [p for p in parts if p.deferred]
    records = [p.record for p in parts]
    done: list[Done] = []
    if not errors and all(record.status == DELIVERED for record in records):
        done.append(Done(
            destination.name, unit, len(records), sum(r.events for r in records), sum(r.delivered for r in records),
            sum(r.dead_lettered for r in records),
        ))  # fmt: skip
    if deferred or done:  # the delivered parts are kept even when another part failed: its retry skips them
        ledger.write([p.record for p in deferred], [d for p in deferred for d in p.dead], done)
    if errors:
        raise errors[0]
    if not done:
        raise RuntimeError(f"{sum(r.status != DELIVERED for r in records)} part(s) of {unit.label()} not delivered")
    with shared.counting:
        outcome.units += 1
    return any(r.delivered for r in records)


def raise_if_failed(run: DeliveryRun) -> None:
    if run.failed:
        raise DeliveryFailed(
            f"{len(run.failed)} of {len(run.outcomes)} destinations failed (through commit {run.through}):\n"
            + "\n".join(f"  {o.destination.name}: {o.error}" for o in run.failed)
        ) from None


def deliver_task(*, run_id: str | None = None) -> DeliveryRun:
    """What the ``deliver`` task calls: deliver what is pending from the configured warehouse (failures recorded in the
    run, not raised: ``eventpipe.orchestrate.outcome.finish_deliveries`` logs the table, then fails the task)."""
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        return deliver_pending(target, run_id=run_id)


def redeliver_range(
    start: str | datetime,
    end: str | datetime,
    *,
    destination_name: str = WILDCARD,
    organization_id: str = WILDCARD,
    include_delivered: bool = False,
    run_id: str | None = None,
) -> DeliveryRun:
    """What the ``redeliver`` DAG's resend calls (parameters checked by ``eventpipe.deliver.redeliver`` first)."""
    from eventpipe.warehouse import open_warehouse

    start, end = parse_utc(start), parse_utc(end)
    if end <= start:
        raise ValueError(f"end ({end:%Y-%m-%dT%H:%M}) must be after start ({start:%Y-%m-%dT%H:%M})")
    with open_warehouse() as target:
        run = resend(
            target, start, end, run_id=run_id, destination_name=destination_name, organization_id=organization_id,
            include_delivered=include_delivered,
        )  # fmt: skip
    log.info("resent [%s, %s): %s", start, end, run.summary())
    return run
