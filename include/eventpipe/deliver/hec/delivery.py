"""One ``HecClient.send``: the work queue, unanswered requests, batches awaiting their acknowledgement.

The state machine behind the client's guarantees (see ``eventpipe.deliver.hec.client``): a batch whose answer was
lost is held back (``limbo``) until later acknowledgements prove whether it landed, an accepted batch waits for its
ackId, an invalid batch is split until the bad events stand alone, and an expired acknowledgement is resent.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from eventpipe.deliver.hec import INVALID_DATA_CODES
from eventpipe.deliver.hec.errors import HecProtocolError, HecUnavailableError
from eventpipe.deliver.transport import DeadLetter, DeliveryReport, NoAnswer, transient_cause

if TYPE_CHECKING:
    from eventpipe.deliver.hec.client import HecClient

log = logging.getLogger(__name__)
ACK_QUERY_MAX_IDS = 1000
MAX_PARKED = 4  # unanswered batches held back while later batches prove whether they landed


class Item(NamedTuple):
    event_id: str
    payload: bytes


@dataclass(eq=False)
class Batch:
    """A batch in flight. ``accepted`` / ``unknown`` count its copies the endpoint took / may have taken."""

    items: list[Item]
    state: str = "queued"  # queued | limbo (answer lost, awaiting proof) | pending (awaiting ack) | done | dead
    tries: int = 0
    accepted: int = 0
    unknown: int = 0
    ack_ids: set[tuple[str, int]] = field(default_factory=set)  # (channel, ackId) of its accepted copies
    body: bytes | None = None
    raw_size: int = 0
    last_error: str = ""

    @property
    def ids(self) -> list[str]:
        return [item.event_id for item in self.items]


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    text: str
    retry_after: float | None

    @property
    def code(self) -> int | None:
        code = self.body.get("code")
        return code if isinstance(code, int) else None


class Delivery:
    """The state of one ``send``: the work queue, unanswered requests, batches awaiting their ack."""

    def __init__(self, client: HecClient, on_accepted: Callable[[list[int]], None] | None = None) -> None:
        self.client = client
        self.on_accepted = on_accepted
        self.report = DeliveryReport()
        self.queue: deque[Batch] = deque()
        self.unanswered: list[tuple[Batch, str]] = []  # (batch, cause) of requests since the last ackId, in order
        self.pending: dict[tuple[str, int], tuple[Batch, float]] = {}  # (channel, ackId) -> (batch, accepted at)
        self.suspects: list[Batch] = []  # batches with more than one copy that may have landed
        self.started = client.clock()
        self.last_poll = self.started
        self.source: Iterator[Batch] | None = None
        self.ahead: Batch | None = None  # the next batch, prepared while the current one was in flight
        self.ahead_error: Exception | None = None

    def run(self, events: Iterable[Mapping[str, Any]]) -> None:
        self.source = self.client.batches(events, self.report)
        while (batch := self._next_batch()) is not None:
            self.report.batches += 1
            self.queue.append(batch)
            self._drain()
        self._finish()

    def _next_batch(self) -> Batch | None:
        if self.ahead is not None:
            batch, self.ahead = self.ahead, None
            return batch
        if self.ahead_error is not None:
            error, self.ahead_error = self.ahead_error, None
            raise error
        return None if self.source is None else next(self.source, None)

    def _prepare_ahead(self) -> None:
        """While an event batch is with the endpoint: cut, serialize and gzip the next one (an error from the
        caller's iterable is kept and raised where that batch would have been taken)."""
        if self.ahead is not None or self.ahead_error is not None or self.source is None:
            return
        try:
            batch = next(self.source, None)
            if batch is None:
                self.source = None
                return
            self.client.encode(batch)
            self.ahead = batch
        except Exception as exc:
            self.ahead_error = exc
            self.source = None

    def close(self) -> DeliveryReport:
        """Fill in the duplicate counts from the batches that had extra copies, and the elapsed time."""
        report = self.report
        for batch in dict.fromkeys(self.suspects):
            report.duplicates_sent += len(batch.items) * max(0, batch.accepted - 1)
            report.possible_duplicates += len(batch.items) * max(0, batch.unknown)
        self.suspects = []
        report.seconds = self.client.clock() - self.started
        return report

    def _drain(self) -> None:
        while self.queue:
            batch = self.queue.popleft()
            if batch.state != "queued":
                continue  # proven accepted meanwhile, by the ackId sequence
            self._attempt(batch)
            if self.client.use_ack:
                self._poll_if_due()
                self._settle_acks(self.client.max_pending_acks - 1)

    def _finish(self) -> None:
        """Resolve what is left: unanswered batches go again (nothing comes after them to prove them), acks settle."""
        while True:
            self._drain()
            limbo = [batch for batch in dict.fromkeys(batch for batch, _ in self.unanswered) if batch.state == "limbo"]
            for batch in limbo:
                batch.state = "queued"
                self.queue.append(batch)
            if limbo:
                continue
            if self.pending:
                self._settle_acks(0)
            if not self.queue:
                return

    # -- event batches ----------------------------------------------------------------------------------

    def _attempt(self, batch: Batch) -> None:
        client = self.client
        if batch.tries > client.max_retries:
            raise HecUnavailableError(
                f"HEC at {client.url}: gave up on a batch of {len(batch.items)} events after {batch.tries} "
                f"attempts (last: {batch.last_error})"
            )
        batch.tries += 1
        body = client.encode(batch)
        self.report.attempts += 1
        self.report.bytes_sent += len(body)
        self.report.bytes_raw += batch.raw_size
        channel = client.channel
        try:
            response = client.post(
                client.event_path, body, gzip=client.gzip, channel=channel, while_waiting=self._prepare_ahead
            )
        except NoAnswer as failure:
            self._no_answer(batch, failure)
            return
        self._answered(batch, response, channel)

    def _no_answer(self, batch: Batch, failure: NoAnswer) -> None:
        client = self.client
        self.report.retries[failure.cause] += 1
        batch.last_error = f"{failure.cause} ({failure})"
        delay = client.backoff_delay(batch.tries, None)
        log.warning(
            "HEC %s on a batch of %d events (attempt %d); retry in %.2fs",
            batch.last_error,
            len(batch.items),
            batch.tries,
            delay,
        )
        client.sleep(delay)
        if not failure.ambiguous:
            self.queue.appendleft(batch)
            return
        batch.unknown += 1
        self.suspects.append(batch)
        if not client.use_ack or client.last_ack_id is None:
            self.queue.appendleft(batch)
            return
        # The next accepted request's ackId will say whether this one landed. Park it and send the next batch
        # first, unless enough are parked already (an endpoint resetting everything): then resend it now.
        self.unanswered.append((batch, failure.cause))
        if sum(1 for parked, _ in self.unanswered if parked.state == "limbo") < MAX_PARKED:
            batch.state = "limbo"
        else:
            self.queue.appendleft(batch)

    def _answered(self, batch: Batch, response: Response, channel: str) -> None:
        client = self.client
        status, code = response.status, response.code
        if status == 200 and code in (0, None):
            self._accepted(batch, response, channel)
        elif status in (401, 403):
            raise client.auth_error(response)
        elif (status == 400 and code in INVALID_DATA_CODES) or status == 413:
            self._split(batch, response)
        elif cause := transient_cause(status):
            self.report.retries[cause] += 1
            batch.last_error = f"HTTP {status} code {code} {response.text!r}"
            delay = client.backoff_delay(batch.tries, response.retry_after)
            log.warning("HEC %s (attempt %d); retry in %.2fs", batch.last_error, batch.tries, delay)
            client.sleep(delay)
            self.queue.appendleft(batch)
        else:
            raise HecProtocolError(
                f"HEC at {client.url} answered HTTP {status}, code {code} {response.text!r}", status=status, code=code
            )

    def _accepted(self, batch: Batch, response: Response, channel: str) -> None:
        client = self.client
        if not client.use_ack:
            self._register(batch, None)
            return
        ack_id = response.body.get("ackId")
        if not isinstance(ack_id, int):
            raise HecProtocolError(
                f"HEC at {client.url} returned no ackId with use_ack=True: the token has indexer acknowledgement off"
            )
        resolved = self._resolve_unanswered(channel, ack_id)
        self._register(batch, (channel, ack_id))
        if client.own_channel:
            client.last_ack_id = ack_id
            if resolved:
                client.new_channel()  # a straggler of those requests must not shift the next count

    def _resolve_unanswered(self, channel: str, ack_id: int) -> bool:
        """Use the gap in the ackId sequence to tell whether unanswered requests landed (module docstring)."""
        records, self.unanswered = self.unanswered, []
        if not records:
            return False
        last = self.client.last_ack_id
        gap = None if last is None else ack_id - last - 1
        if gap == 0:
            for batch, cause in reversed(records):
                if cause != "timeout":  # reset: the endpoint is done and did not take it; a timeout may still land
                    batch.unknown -= 1
                self._requeue(batch)
        elif gap == len(records):
            for offset, (batch, _) in enumerate(records):
                batch.unknown -= 1
                self._register(batch, (channel, last + 1 + offset))
        else:
            log.warning(
                "HEC ackId %s after %s: %d unanswered requests cannot be told apart; resending them",
                ack_id,
                last,
                len(records),
            )
            for batch, _ in reversed(records):
                self._requeue(batch)
        return True

    def _requeue(self, batch: Batch) -> None:
        if batch.state == "limbo":
            batch.state = "queued"
            self.queue.appendleft(batch)

    def _register(self, batch: Batch, ack: tuple[str, int] | None) -> None:
        """One more copy of ``batch`` is accepted; without ack that is delivery, with ack it awaits its ack."""
        batch.accepted += 1
        if batch.accepted > 1:
            self.suspects.append(batch)
        if batch.state in ("done", "dead"):
            return
        if ack is None:
            self._delivered(batch)
            return
        batch.state = "pending"
        batch.ack_ids.add(ack)
        self.pending[ack] = (batch, self.client.clock())
        self.report.ack_ids.append(ack[1])
        if self.on_accepted is not None:
            self.on_accepted(list(self.report.ack_ids))

    def _delivered(self, batch: Batch) -> None:
        batch.state = "done"
        self.report.delivered_ids.extend(batch.ids)
        for ack in batch.ack_ids:
            self.pending.pop(ack, None)
        batch.ack_ids.clear()
        batch.body = None  # nothing will resend it: let the bytes go

    def _split(self, batch: Batch, response: Response) -> None:
        """Isolate the events the endpoint refuses; only an event refused on its own is dead-lettered."""
        code = response.code if response.status == 400 else response.status
        items = batch.items
        batch.state = "dead"
        if len(items) == 1:
            self.report.dead_letter.append(DeadLetter(items[0].event_id, code, response.text))
            log.warning("HEC dead-lettered event %s: code %s %s", items[0].event_id, code, response.text)
            return
        number = response.body.get("invalid-event-number")
        if response.status == 400 and isinstance(number, int) and 0 <= number < len(items):
            parts = [items[:number], items[number : number + 1], items[number + 1 :]]
        else:
            middle = len(items) // 2
            parts = [items[:middle], items[middle:]]
        for part in reversed(parts):
            if part:
                self.queue.appendleft(Batch(part))

    # -- acknowledgements -------------------------------------------------------------------------------

    def _poll_if_due(self) -> None:
        if self.pending and self.client.clock() - self.last_poll >= self.client.ack_poll_s:
            self._poll()

    def _settle_acks(self, limit: int) -> None:
        """Poll until at most ``limit`` ackIds are outstanding; timed-out batches are queued to go again."""
        while len(self.pending) > limit:
            wait = self.last_poll + self.client.ack_poll_s - self.client.clock()
            if wait > 0:
                self.client.sleep(wait)
            self._poll()

    def _poll(self) -> None:
        by_channel: dict[str, list[int]] = {}
        for channel, ack_id in sorted(self.pending):
            by_channel.setdefault(channel, []).append(ack_id)
        for channel, ack_ids in by_channel.items():
            for start in range(0, len(ack_ids), ACK_QUERY_MAX_IDS):
                for key, done in self.query(channel, ack_ids[start : start + ACK_QUERY_MAX_IDS]).items():
                    entry = self.pending.get((channel, int(key))) if done is True and str(key).isdigit() else None
                    if entry is not None:
                        self._delivered(entry[0])
        self.report.ack_polls += 1
        self.last_poll = self.client.clock()
        self._expire()

    def _expire(self) -> None:
        now = self.client.clock()
        for ack, (batch, accepted_at) in list(self.pending.items()):
            if now - accepted_at < self.client.ack_timeout_s:
                continue
            del self.pending[ack]
            batch.ack_ids.discard(ack)
            batch.accepted -= 1  # that copy may or may not have been indexed
            batch.unknown += 1
            self.suspects.append(batch)
            if not batch.ack_ids:
                self.report.retries["ack_timeout"] += 1
                log.warning("HEC ackId %d not acknowledged in %.1fs; resending its batch", ack[1], now - accepted_at)
                batch.state = "queued"
                self.queue.append(batch)

    def query(self, channel: str, ack_ids: list[int]) -> dict[str, Any]:
        """One ``/ack`` question, retried on transient failures (asking twice is harmless)."""
        client = self.client
        body = json.dumps({"acks": ack_ids}).encode()
        for tries in range(1, client.max_retries + 2):
            try:
                response = client.post(client.ack_path, body, gzip=False, channel=channel)
            except NoAnswer as failure:
                cause, retry_after, detail = failure.cause, None, f"{failure.cause} ({failure})"
            else:
                if response.status == 200:
                    acks = response.body.get("acks")
                    return acks if isinstance(acks, dict) else {}
                if response.status in (401, 403):
                    raise client.auth_error(response)
                cause = transient_cause(response.status)
                if cause is None:
                    raise HecProtocolError(
                        f"HEC at {client.url} refused an ack query: HTTP {response.status}, code {response.code} "
                        f"{response.text!r}",
                        status=response.status,
                        code=response.code,
                    )
                retry_after, detail = response.retry_after, f"HTTP {response.status} {response.text!r}"
            self.report.ack_query_retries[cause] += 1
            client.sleep(client.backoff_delay(tries, retry_after))
        raise HecUnavailableError(f"HEC at {client.url}: ack queries failed {client.max_retries + 1} times ({detail})")
