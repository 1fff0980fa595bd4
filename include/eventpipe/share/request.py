"""What a share_sync run was asked to do, checked against the consumers file before any work, and the
access changes a plan makes (which consumer gains or loses which organization), for a dry run to show.

The trigger form cannot list the consumers as choices without reading the consumers file when the DAG
file is parsed (no I/O at parse time), so the first task checks the run's parameters against the file
and a bad one fails the run at once, without retries, with the allowed values in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from eventpipe.share.config import ShareConfig
from eventpipe.share.snowflake import desired_state
from eventpipe.share.state import ShareState

TARGETS = ("local", "snowflake")
PARAMS = ("target", "dry_run", "consumer", "organization")


class BadParams(ValueError):
    """One or more parameters are not allowed; the message names each and what is allowed."""


@dataclass(frozen=True)
class SyncRequest:
    target: str = "local"
    dry_run: bool = True
    consumer: str | None = None  # upper case, one of the file's accounts
    organization: str | None = None  # one of the file's organizations (of ``consumer`` when given)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_request(params: Mapping[str, Any], config: ShareConfig, source: str = "the consumers file") -> SyncRequest:
    """The run's parameters as a SyncRequest, or BadParams listing every bad one and what is allowed."""
    errors = []
    unknown = sorted(str(key) for key in params if key not in PARAMS)
    if unknown:
        errors.append(f"unknown parameter(s) {', '.join(unknown)}: allowed are {', '.join(PARAMS)}")
    target = params.get("target", "local")
    if target not in TARGETS:
        errors.append(f"target {target!r} is not allowed: one of {', '.join(TARGETS)}")
    dry_run = params.get("dry_run", True)
    if not isinstance(dry_run, bool):
        errors.append(f"dry_run {dry_run!r} must be true or false")
    accounts = [consumer.account for consumer in config.consumers]
    consumer = params.get("consumer") or None
    if consumer is not None:
        if not isinstance(consumer, str) or consumer.upper() not in accounts:
            errors.append(f"consumer {consumer!r} is not in {source}: one of {', '.join(accounts) or '(none)'}")
            consumer = None
        else:
            consumer = consumer.upper()
    organization = params.get("organization") or None
    if organization is not None:
        scope = [c for c in config.consumers if consumer is None or c.account == consumer]
        allowed = sorted({org for c in scope for org in c.organizations})
        if organization not in allowed:
            whose = f"consumer {consumer}'s organizations" if consumer else f"the organizations in {source}"
            errors.append(f"organization {organization!r} is not one of {whose}: {', '.join(allowed) or '(none)'}")
    if errors:
        raise BadParams("; ".join(errors))
    return SyncRequest(target, dry_run, consumer, organization)


@dataclass(frozen=True)
class AccessChange:
    """One change of who sees what: ``change`` is one of CHANGES; ``organization`` is None for an account's
    joining or leaving the share."""

    account: str
    organization: str | None
    change: str

    def in_scope(self, request: SyncRequest) -> bool:
        """Whether the change stays within the run's consumer / organization (all, when neither is given)."""
        if request.consumer is not None and self.account != request.consumer:
            return False
        return request.organization is None or self.organization == request.organization


CHANGES = ("joins the share", "leaves the share", "gains", "loses", "PII shown", "PII masked")


def access_changes(current: ShareState, config: ShareConfig) -> list[AccessChange]:
    """The accounts and (account, organization) rows the plan from ``current`` to ``config`` changes."""
    target = desired_state(config)
    before_accounts = current.accounts if current.share_exists else frozenset()
    rows = current.mapping if current.mapping_table_exists else ()
    before = {(row.snowflake_account, row.organization_id): row.pii_allowed for row in rows}
    after = {(row.snowflake_account, row.organization_id): row.pii_allowed for row in target.mapping}
    changes = [AccessChange(account, None, "joins the share") for account in target.accounts - before_accounts]
    changes += [AccessChange(account, None, "leaves the share") for account in before_accounts - target.accounts]
    for (account, org), pii in after.items():
        if (account, org) not in before:
            changes.append(AccessChange(account, org, "gains"))
        elif before[(account, org)] != pii:
            changes.append(AccessChange(account, org, "PII shown" if pii else "PII masked"))
    changes += [AccessChange(account, org, "loses") for (account, org) in before.keys() - after.keys()]
    # an account's joining or leaving first, then its organizations in order
    return sorted(changes, key=lambda c: (c.account, c.organization or "", c.change))


def format_changes(changes: list[AccessChange], request: SyncRequest) -> str:
    """A short table: consumer, organization, change, and whether it is outside the run's scope."""
    if not changes:
        return "No access changes: every consumer already sees exactly its organizations."
    width = max(len("consumer"), *(len(c.account) for c in changes))
    org_width = max(len("organization"), *(len(c.organization or "(all)") for c in changes))
    lines = [f"{'consumer':<{width}}  {'organization':<{org_width}}  change"]
    for change in changes:
        flag = "" if change.in_scope(request) else "   <- outside consumer/organization of this run"
        lines.append(f"{change.account:<{width}}  {change.organization or '(all)':<{org_width}}  {change.change}{flag}")
    return "\n".join(lines)
