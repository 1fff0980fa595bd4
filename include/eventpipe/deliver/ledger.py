"""The delivery ledger: what each destination has taken, by unit and by part (``create_delivery_tables.sql``).

- A **unit** is one ``ops.load_commit_unit`` row: a load commit's events of one organization, kind and arrival hour.
  A destination takes next every unit without an ``ops.delivery_done`` row for it (``pending``), in commit order:
  a ledger of committed loads, never a time (``eventpipe.warehouse.commits``).
- A **part** is what the destination acknowledges at once (``eventpipe.deliver.parts``). Its ``ops.delivery_part`` row
  is written before it is sent (``sending``), when HEC accepts it (``accepted``, with the part's channel and ackIds),
  and when it is answered (``delivered`` or ``failed``). A run that dies leaves at most the parts it had in flight in
  ``sending`` / ``accepted``: they are *in doubt*, and the next run resolves them (``eventpipe.deliver.sending``).
- A **claim** (``ops.delivery_claim``): one run at a time delivers to a destination, so two runs never send the same
  part. It is taken and renewed in a transaction serialized with every other claim's, renewed by a thread of the run
  every quarter of its life, and expires by the warehouse's clock (``EVENTPIPE_DELIVERY_CLAIM_SECONDS``, default
  120), never by a worker's: a run that dies (SIGKILL, a lost worker) holds it two minutes at most, and a run on the
  same host takes it at once when the holder's process is gone. (A holder that stalls longer than that without
  renewing, and then resumes, could send the part it had in flight while another run sends it too: it stops at its
  next renewal. The parts of the run that took over are sent once.)

Every write is one transaction, idempotent by key on both engines (``Warehouse.upsert``); writes from the sending
threads are grouped into one transaction while another is in progress (``Ledger.write``), and a caller returns only
once its rows are committed.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from dataclasses import astuple, dataclass, field
from datetime import datetime
from typing import Any

from eventpipe.utc import naive_utc, utc_now
from eventpipe.warehouse import Warehouse, commits

SENDING, ACCEPTED, DELIVERED, FAILED = "sending", "accepted", "delivered", "failed"
IN_DOUBT = (SENDING, ACCEPTED)


@dataclass(frozen=True)
class Unit:
    """One ``ops.load_commit_unit`` row."""

    commit_seq: int
    organization_id: str
    kind: str
    interval_start: datetime
    events: int

    def params(self, destination: str) -> dict[str, Any]:
        return {
            "destination": destination,
            "organization_id": self.organization_id,
            "kind": self.kind,
            "commit_seq": self.commit_seq,
            "interval_start": self.interval_start,
        }

    def label(self) -> str:
        return f"commit {self.commit_seq} {self.organization_id} {self.kind} {self.interval_start:%Y-%m-%dT%H}:00"


@dataclass
class PartRecord:
    """One ``ops.delivery_part`` row (the fields in the table's column order)."""

    destination: str
    destination_type: str
    organization_id: str
    kind: str
    commit_seq: int
    interval_start: datetime
    part: int
    status: str
    events: int
    delivered: int = 0
    dead_lettered: int = 0
    first_event_id: str | None = None
    last_event_id: str | None = None
    target: str | None = None
    channel: str | None = None
    ack_ids: list[int] = field(default_factory=list)
    bytes: int = 0
    attempts: int = 0
    possible_duplicates: int = 0
    checksum: str | None = None
    delivered_ids: list[str] = field(default_factory=list)  # kept only while the part is partly delivered
    error: str | None = None
    run_id: str | None = None
    updated_at: datetime | None = None

    def row(self) -> list[Any]:
        values = list(astuple(self))
        values[15] = json.dumps(self.ack_ids) if self.ack_ids else None
        keep = self.delivered_ids and self.status != DELIVERED
        values[20] = json.dumps(sorted(self.delivered_ids)) if keep else None
        values[23] = self.updated_at or utc_now()
        return values


@dataclass(frozen=True)
class DeadLetter:
    """One ``ops.delivery_dead_letter`` row: an event not sent, never resent as it is."""

    destination: str
    event_id: str
    organization_id: str
    kind: str
    interval_start: datetime
    part: str
    code: str | None
    reason: str
    commit_seq: int

    def row(self, now: datetime) -> list[Any]:
        return [
            self.destination, self.event_id, self.organization_id, self.kind, self.interval_start, self.part,
            self.code, self.reason, now, self.commit_seq,
        ]  # fmt: skip


@dataclass(frozen=True)
class Done:
    """A unit a destination received whole (``ops.delivery_done``)."""

    destination: str
    unit: Unit
    parts: int
    events: int
    delivered: int
    dead_lettered: int

    def row(self, run_id: str | None, now: datetime) -> list[Any]:
        unit = self.unit
        return [
            self.destination, unit.organization_id, unit.kind, unit.commit_seq, unit.interval_start, self.parts,
            self.events, self.delivered, self.dead_lettered, run_id, now,
        ]  # fmt: skip


class ClaimHeld(RuntimeError):
    """Another run holds the destination's delivery claim: it is delivering now."""


def claim_seconds() -> int:
    return int(os.environ.get("EVENTPIPE_DELIVERY_CLAIM_SECONDS", "120"))


def holder_is_gone(holder: str) -> bool:
    """Whether ``holder`` (host:pid:token) is a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def ensure_tables(warehouse: Warehouse) -> None:
    """Create the ledger's tables if missing (two runs doing it at once: the second retries on the conflict)."""
    commits.retry_conflicts(lambda: warehouse.execute_script("create_delivery_tables"), "creating the ledger")


class Ledger:
    """The ledger as one delivery run writes it: from several sending threads, through one warehouse connection."""

    def __init__(self, warehouse: Warehouse, run_id: str | None) -> None:
        self.warehouse = warehouse
        self.run_id = run_id
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock = threading.RLock()  # the warehouse connection is not shared between threads unguarded
        self._changed = threading.Condition()
        self._queue: list[tuple[list[PartRecord], list[DeadLetter], list[Done]]] = []
        self._flushing = False
        self._written = 0  # batches committed (a caller waits for its own)
        self._queued = 0
        self._error: BaseException | None = None

    # -- reading ---------------------------------------------------------------------------------------------

    def fetchall(self, sql_name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self.lock:
            return self.warehouse.fetchall(sql_name, params)

    def last_commit(self) -> int:
        return int(self.fetchall("last_commit_seq")[0][0] or 0)

    def pending(self, destination: str, kinds: tuple[str, ...], through: int) -> list[Unit]:
        rows = self.fetchall(
            "delivery_pending_units", {"destination": destination, "kinds": _kinds(kinds), "through": through}
        )
        return [_unit(row) for row in rows]

    def in_range(self, kinds: tuple[str, ...], start: datetime, end: datetime) -> list[Unit]:
        params = {"kinds": _kinds(kinds), "range_start": start, "range_end": end}
        return [_unit(row) for row in self.fetchall("delivery_units_in_range", params)]

    def unit_parts(self, destination: str, unit: Unit) -> dict[int, PartRecord]:
        """The unit's ledger rows at the destination, by part number."""
        found = {}
        rows = self.fetchall("delivery_unit_parts", unit.params(destination))
        for part, status, events, delivered, dead, channel, ack_ids, attempts, dups, checksum, ids, updated in rows:
            found[int(part)] = PartRecord(
                destination, "", unit.organization_id, unit.kind, unit.commit_seq, unit.interval_start, int(part),
                status, int(events), int(delivered), int(dead), channel=channel,
                ack_ids=json.loads(ack_ids) if ack_ids else [], attempts=int(attempts),
                possible_duplicates=int(dups), checksum=checksum, delivered_ids=json.loads(ids) if ids else [],
                updated_at=naive_utc(updated) if updated else None,
            )  # fmt: skip
        return found

    # -- writing ---------------------------------------------------------------------------------------------

    def write(self, parts: list[PartRecord] = (), dead: list[DeadLetter] = (), done: list[Done] = ()) -> None:
        """Commit these rows; return once they are committed. Calls from several threads meanwhile are committed
        together, in one transaction (group commit)."""
        for record in parts:
            record.run_id = self.run_id
            record.updated_at = utc_now()
        with self._changed:
            self._queue.append((list(parts), list(dead), list(done)))
            self._queued += 1
            mine = self._queued
            while self._written < mine:
                if self._error is not None:
                    error = self._error
                    what = f"{type(error).__name__}: {error}"
                    raise RuntimeError(f"the delivery ledger could not be written: {what}") from error
                if not self._flushing:
                    self._flushing = True
                    batch, self._queue = self._queue, []
                    last = self._queued
                    self._changed.release()
                    try:
                        self._commit(batch)
                    except BaseException as error:
                        self._changed.acquire()
                        self._error, self._flushing = error, False
                        self._changed.notify_all()
                        raise
                    self._changed.acquire()
                    self._written, self._flushing = last, False
                    self._changed.notify_all()
                else:
                    self._changed.wait()

    def _commit(self, batch: list[tuple[list[PartRecord], list[DeadLetter], list[Done]]]) -> None:
        now = utc_now()
        part_rows = {tuple(r.row()[:7]): r.row() for parts, _, _ in batch for r in parts}  # the latest per part
        dead_rows = {(d.destination, d.event_id): d.row(now) for _, dead, _ in batch for d in dead}
        done_rows = [d.row(self.run_id, now) for _, _, done in batch for d in done]
        with self.lock, self.warehouse.transaction():
            self.warehouse.upsert("delivery_part", list(part_rows.values()))
            self.warehouse.upsert("delivery_dead_letter", list(dead_rows.values()))
            self.warehouse.upsert("delivery_done", done_rows)

    # -- the claim -------------------------------------------------------------------------------------------

    def claim(self, destination: str) -> None:
        """Take the destination's claim (free, expired, or already this run's), else ``ClaimHeld``."""
        self._serialized(lambda: self._take(destination), f"claim of {destination}")

    def renew(self, destination: str) -> None:
        """Extend this run's claim; ``ClaimHeld`` if it expired and another run took it."""
        self.claim(destination)

    def release(self, destination: str) -> None:
        with self.lock:
            self.warehouse.fetchall("delete_delivery_claim", {"destination": destination, "holder": self.holder})

    def _take(self, destination: str) -> None:
        now, holder, expires_at = self.warehouse.fetchall("delivery_claim", {"destination": destination})[0]
        live = holder and holder != self.holder and naive_utc(expires_at) > naive_utc(now)
        if live and not holder_is_gone(holder):
            raise ClaimHeld(f"{destination} is being delivered by {holder} (its claim runs to {expires_at:%H:%M:%S})")
        self.warehouse.fetchall("delete_delivery_claim", {"destination": destination, "holder": None})
        params = {"destination": destination, "holder": self.holder, "seconds": claim_seconds()}
        self.warehouse.fetchall("insert_delivery_claim", params)

    def _serialized(self, step, what: str) -> None:
        """``step`` inside a transaction serialized with every other claim's (``serialize_claims.sql``)."""

        def attempt() -> None:
            with self.lock, self.warehouse.transaction():
                self.warehouse.fetchall("serialize_claims")
                step()

        commits.retry_conflicts(attempt, what)


class Renewal:
    """Renews the run's claim on a destination every quarter of its life, from a thread of its own, so that a part
    awaiting a slow acknowledgement never lets it lapse; ``check`` raises once it was lost."""

    def __init__(self, ledger: Ledger, destination: str) -> None:
        self.ledger, self.destination = ledger, destination
        self.lost: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"claim-{destination}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(claim_seconds() / 4):
            try:
                self.ledger.renew(self.destination)
            except Exception as error:  # ClaimHeld, or the warehouse gone: stop sending at the next unit
                self.lost = error
                return

    def check(self) -> None:
        if self.lost is not None:
            raise RuntimeError(f"the claim on {self.destination} was lost: {self.lost}") from self.lost

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _kinds(kinds: tuple[str, ...]) -> str:
    return "," + ",".join(kinds) + ","


def _unit(row: tuple) -> Unit:
    commit_seq, organization_id, kind, interval_start, events = row
    return Unit(int(commit_seq), organization_id, kind, naive_utc(interval_start), int(events))
