"""What a ``redeliver`` run was asked to do, checked against the destinations file before any work, and what it
would resend (a dry run): per destination, organization and kind, the units and events, what the destination holds
already by the ledger, and where a resend makes duplicates at the receiver.

By default a resend sends only what a destination does not have (the parts the ledger does not say delivered): a
destination that already holds the range receives nothing. ``include_delivered`` sends everything again.

The trigger form cannot offer the destinations as choices without reading the destinations file when the DAG file
is parsed (no I/O at parse time), so the first task checks the run's parameters against the file and a bad one
fails the run at once, without retries, with the allowed values in the message (as ``share_sync`` does).

Duplicates: Splunk HEC and GA4 keep every copy they are sent, so resending what they already received doubles it;
S3 objects are overwritten under the same keys and Heap keeps one event per ``idempotency_key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventpipe.contract import ORGANIZATION_ID
from eventpipe.deliver import ledger
from eventpipe.deliver.config import WILDCARD, Destination
from eventpipe.utc import hour_floor, naive_utc, utc_now
from eventpipe.warehouse import Warehouse

PARAMS = ("destination", "organization", "start", "end", "dry_run", "include_delivered")
MAX_RANGE = timedelta(days=7)
DEFAULT_RANGE = timedelta(days=1)
# What a second copy of an event does at each destination type.
ON_RESEND = {
    "s3": "overwrites the same objects (no copies)",
    "heap": "deduplicated by idempotency_key (no copies)",
    "splunk_hec": "a SECOND COPY of every event already delivered",
    "ga4": "a SECOND COPY of every event already delivered",
}
DUPLICATING = ("splunk_hec", "ga4")
SHOWN = 20  # lines of the plan in its XCom


class BadParams(ValueError):
    """One or more parameters are not allowed; the message names each and what is allowed."""


@dataclass(frozen=True)
class RedeliverRequest:
    destination: str  # a name of the destinations file, or "*"
    organization: str  # an organization id, or "*"
    start: str  # ISO, naive UTC, on the hour
    end: str
    dry_run: bool = True
    include_delivered: bool = False  # resend what the destinations already have, too

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def range(self) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(self.start), datetime.fromisoformat(self.end)


def parse_request(
    params: Mapping[str, Any],
    destinations: list[Destination],
    source: str = "the destinations file",
    now: datetime | None = None,
) -> RedeliverRequest:
    """The run's parameters as a RedeliverRequest, or BadParams listing every bad one and what is allowed."""
    now = naive_utc(now) if now else utc_now()
    errors = []
    unknown = sorted(str(key) for key in params if key not in PARAMS)
    if unknown:
        errors.append(f"unknown parameter(s) {', '.join(unknown)}: allowed are {', '.join(PARAMS)}")
    enabled = [d for d in destinations if d.enabled]
    names = [d.name for d in enabled]
    destination = params.get("destination") or WILDCARD
    chosen = enabled
    if destination != WILDCARD:
        chosen = [d for d in enabled if d.name == destination]
        if not chosen:
            disabled = " (it is disabled there)" if any(d.name == destination for d in destinations) else ""
            errors.append(
                f"destination {destination!r} is not an enabled destination of {source}{disabled}:"
                f" one of {', '.join(names) or '(none)'}, or * for all"
            )
    organization = params.get("organization") or WILDCARD
    if organization != WILDCARD and chosen:
        listed = sorted({org for d in chosen for org in d.organizations if org != WILDCARD})
        if not isinstance(organization, str) or not ORGANIZATION_ID.fullmatch(organization):
            errors.append(f"organization {organization!r} is not an organization id ([A-Za-z0-9_-]{{1,128}})")
        elif not any(d.applies_to(organization) for d in chosen):
            whose = f"destination {destination}" if destination != WILDCARD else source
            errors.append(
                f"organization {organization!r} is not configured for {whose}: one of {', '.join(listed)}, or *"
            )
    start, end = _range(params.get("start"), params.get("end"), now, errors)
    dry_run = params.get("dry_run", True)
    if not isinstance(dry_run, bool):
        errors.append(f"dry_run {dry_run!r} must be true or false")
    include_delivered = params.get("include_delivered", False)
    if not isinstance(include_delivered, bool):
        errors.append(f"include_delivered {include_delivered!r} must be true or false")
    if errors:
        raise BadParams("; ".join(errors))
    return RedeliverRequest(destination, organization, start.isoformat(), end.isoformat(), dry_run, include_delivered)


def _range(start: Any, end: Any, now: datetime, errors: list[str]) -> tuple[datetime, datetime]:
    parsed = {}
    for name, value in (("start", start), ("end", end)):
        if value in (None, ""):
            parsed[name] = None
            continue
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{name} {value!r} is not an ISO-8601 time (e.g. 2026-11-26T00:00:00+00:00)")
            parsed[name] = None
            continue
        try:
            parsed[name] = naive_utc(moment)
        except ValueError as error:  # a time whose UTC is outside years 1-9999
            errors.append(f"{name}: {error}")
            parsed[name] = None
    # Empty: the last whole day of arrival hours before now (or before end / after start when one is given).
    end_at = parsed["end"] or (parsed["start"] + DEFAULT_RANGE if parsed["start"] else hour_floor(now))
    start_at = parsed["start"] or end_at - DEFAULT_RANGE
    start_at = hour_floor(start_at)
    if end_at <= start_at:
        errors.append(f"end ({end_at:%Y-%m-%dT%H:%M}) must be after start ({start_at:%Y-%m-%dT%H:%M})")
    elif end_at - start_at > MAX_RANGE:
        errors.append(f"the range {start_at:%Y-%m-%dT%H:%M} to {end_at:%Y-%m-%dT%H:%M} is longer than 7 days")
    if end_at > now:
        errors.append(f"end ({end_at:%Y-%m-%dT%H:%M} UTC) is in the future (now {now:%Y-%m-%dT%H:%M} UTC)")
    return start_at, end_at


# -- the dry run -------------------------------------------------------------------------------------------


@dataclass
class PlanRow:
    destination: str
    destination_type: str
    organization: str
    kind: str
    units: int = 0
    intervals: set[datetime] = field(default_factory=set)
    events: int = 0
    already_delivered: int = 0  # by the ledger: what the receiver holds already
    dead_lettered: int = 0
    include_delivered: bool = False

    @property
    def to_send(self) -> int:
        """Events a resend sends: what the destination does not have, or with include_delivered everything."""
        held = 0 if self.include_delivered else self.already_delivered
        return max(0, self.events - held - self.dead_lettered)

    @property
    def duplicates(self) -> int:
        if not self.include_delivered or self.destination_type not in DUPLICATING:
            return 0
        return self.already_delivered


@dataclass
class RedeliveryPlan:
    request: RedeliverRequest
    intervals: list[datetime] = field(default_factory=list)
    rows: list[PlanRow] = field(default_factory=list)
    organizations_in_range: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "intervals": len(self.intervals),
            "units": sum(r.units for r in self.rows),
            "events": sum(r.to_send for r in self.rows),
            "already_delivered": sum(r.already_delivered for r in self.rows),
            "duplicates": sum(r.duplicates for r in self.rows),
        }

    def as_dict(self) -> dict[str, Any]:
        """The compact summary the UI shows (XCom): totals, per destination, and the first ``SHOWN`` lines of the
        table (destination, organization, kind); the task log has them all."""
        by_destination: dict[str, dict[str, int]] = {}
        for r in self.rows:
            entry = by_destination.setdefault(r.destination, {"events": 0, "units": 0, "duplicates": 0})
            entry["events"] += r.to_send
            entry["units"] += r.units
            entry["duplicates"] += r.duplicates
        lines = [
            f"{r.destination} {r.organization} {r.kind}: {r.to_send} of {r.events} events"
            + (f", {r.duplicates} duplicated" if r.duplicates else "")
            for r in self.rows
        ]
        if len(lines) > SHOWN:
            lines = [*lines[:SHOWN], f"... {len(lines) - SHOWN} more (the task log lists them all)"]
        return self.totals() | {
            "dry_run": self.request.dry_run,
            "include_delivered": self.request.include_delivered,
            "range": f"{self.request.start} to {self.request.end}",
            "by_destination": by_destination,
            "would_resend": lines,
        }


def plan_redelivery(warehouse: Warehouse, request: RedeliverRequest, destinations: list[Destination]) -> RedeliveryPlan:
    """What a resend of ``request`` would send, read from the ledgers; nothing is sent or written."""
    chosen = [d for d in destinations if d.enabled and request.destination in (WILDCARD, d.name)]
    start, end = request.range
    plan = RedeliveryPlan(request)
    ledger.ensure_tables(warehouse)
    rows: dict[tuple[str, str, str], PlanRow] = {}
    intervals: set[datetime] = set()
    seen: set[str] = set()
    for destination in chosen:
        params = {"destination": destination.name, "kinds": "," + ",".join(destination.kinds) + ",", "range_start":
                  start, "range_end": end}  # fmt: skip
        for org, kind, _commit, interval, events, delivered, dead, _done in warehouse.fetchall("delivery_plan", params):
            seen.add(org)
            intervals.add(interval)
            if not destination.applies_to(org) or request.organization not in (WILDCARD, org):
                continue
            row = rows.setdefault(
                (destination.name, org, kind),
                PlanRow(destination.name, destination.type, org, kind, include_delivered=request.include_delivered),
            )
            row.units += 1
            row.intervals.add(interval)
            row.events += int(events)
            row.already_delivered += int(delivered)
            row.dead_lettered += int(dead)
    plan.intervals = sorted(intervals)
    plan.rows = sorted(rows.values(), key=lambda r: (r.destination, r.organization, r.kind))
    plan.organizations_in_range = sorted(seen)
    return plan


def check_organization(plan: RedeliveryPlan, destinations: list[Destination]) -> None:
    """BadParams when a named organization that no chosen destination lists by name (a ``*`` let it through) has
    no events in the range: most likely a typo. The message lists the organizations that do have events."""
    wanted = plan.request.organization
    if wanted == WILDCARD or wanted in plan.organizations_in_range:
        return
    chosen = [d for d in destinations if d.enabled and plan.request.destination in (WILDCARD, d.name)]
    if any(wanted in d.organizations for d in chosen):
        return  # configured by name: nothing to resend in this range, which the plan says
    found = ", ".join(plan.organizations_in_range) or "(none)"
    raise BadParams(
        f"organization {wanted!r} has no events loaded in {plan.request.start} to {plan.request.end}:"
        f" organizations with events there: {found}"
    )


def format_plan(plan: RedeliveryPlan, destinations: list[Destination]) -> str:
    """A short table for the task log, then what a resend does at each destination."""
    request = plan.request
    head = (
        f"{'DRY RUN: nothing sent. ' if request.dry_run else ''}Resend {request.start} to {request.end}"
        f" (UTC, arrival hours), destination {request.destination}, organization {request.organization}:"
        f" {len(plan.intervals)} loaded interval(s); "
        + ("everything again" if request.include_delivered else "only what the destinations do not have")
    )
    if not plan.rows:
        found = ", ".join(plan.organizations_in_range) or "(none)"
        return f"{head}\nNothing to resend. Organizations with events in the range: {found}"
    width = max(len("destination"), *(len(r.destination) for r in plan.rows))
    org_width = max(len("organization"), *(len(r.organization) for r in plan.rows))
    lines = [
        head,
        f"{'destination':<{width}}  {'organization':<{org_width}}  {'kind':<9} {'units':>6} {'events':>9}"
        f" {'has':>9} {'to send':>9} {'duplicates':>10}",
    ]
    for r in plan.rows:
        lines.append(
            f"{r.destination:<{width}}  {r.organization:<{org_width}}  {r.kind:<9} {r.units:>6,} {r.events:>9,}"
            f" {r.already_delivered:>9,} {r.to_send:>9,} {r.duplicates:>10,}"
        )
    totals = plan.totals()
    label = f"{'total':<{width + org_width + 13}}"
    lines.append(
        f"{label} {totals['units']:>6,} {'':>9} {totals['already_delivered']:>9,} {totals['events']:>9,}"
        f" {totals['duplicates']:>10,}"
    )
    types = {d.name: d.type for d in destinations}
    lines.append("At the receivers:")
    for name in sorted({r.destination for r in plan.rows}):
        lines.append(f"  {name} ({types[name]}): {ON_RESEND.get(types[name], '')}")
    return "\n".join(lines)
