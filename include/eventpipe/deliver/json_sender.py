"""JSON-over-HTTP batch sending with the HEC client's delivery rules, for Heap and GA4.

- A batch answered 2xx is delivered.
- 429 / 5xx / timeouts / connection resets: the same bytes again after exponential backoff with full jitter, never
  sooner than ``Retry-After``; after ``max_retries`` ``DeliveryUnavailableError`` (with the report so far).
- 400 / 413 / 422 (the endpoint refuses the data): never resent as is. The batch is split in halves until the bad
  events stand alone, and only those go to the dead letter with the endpoint's answer.
- 401 / 403: ``DeliveryAuthError`` at once; secrets (api keys in a query string, tokens) are redacted.

A reset after the request went out may have been acted on: the resend is counted in ``possible_duplicates``
(Heap deduplicates on ``idempotency_key``; GA4 does not).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from eventpipe.deliver.transport import (
    Connection,
    DeadLetter,
    DeliveryAuthError,
    DeliveryError,
    DeliveryReport,
    DeliveryUnavailableError,
    NoAnswer,
    backoff,
    redact,
    retry_after,
    transient_cause,
)

log = logging.getLogger(__name__)
INVALID_STATUSES = frozenset({400, 413, 422})


@dataclass
class Item:
    event_id: str
    payload: Any  # one event as the endpoint's JSON wants it


@dataclass
class Answer:
    status: int
    body: Any
    text: str
    retry_after: float | None


class JsonSender:
    """One kept-alive connection to ``url``; not thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        secrets: Sequence[str] = (),
        headers: dict[str, str] | None = None,
        max_retries: int = 8,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}: not an http(s) URL: {parts.scheme}://{parts.hostname}")
        self.name = name
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.root = parts.path.rstrip("/")
        self._secrets = tuple(s for s in secrets if s)
        self._headers = {"Content-Type": "application/json", "User-Agent": "eventpipe", **(headers or {})}
        self.max_retries, self.backoff_base_s, self.backoff_max_s = max_retries, backoff_base_s, backoff_max_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._connection = Connection(parts.scheme, parts.netloc.rpartition("@")[2], timeout_s)

    def __repr__(self) -> str:
        return f"JsonSender({self.name}, url={self.url!r})"

    def close(self) -> None:
        self._connection.close()

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def post(self, path: str, body: bytes) -> Answer:
        """One request (no retry); ``NoAnswer`` when no HTTP answer came back."""
        status, headers, data = self._connection.request(self.root + path, body, dict(self._headers))
        text = self.redact(data.decode("utf-8", "replace"))
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        return Answer(status, parsed, text[:500], retry_after(headers))

    def backoff(self, tries: int, after: float | None) -> float:
        return backoff(tries, after, base_s=self.backoff_base_s, max_s=self.backoff_max_s, rng=self._rng)

    def send(
        self,
        batches: Iterable[list[Item]],
        path: str,
        encode: Callable[[list[Item]], bytes],
        report: DeliveryReport,
        check: Callable[[list[Item], Answer], list[tuple[int, str]]] | None = None,
    ) -> DeliveryReport:
        """Send every batch under the rules above. ``check`` may name items of an accepted batch that the endpoint
        reported invalid (GA4's validation): ``[(index in batch, reason)]``; those are dead-lettered, not delivered.
        """
        started = time.monotonic()
        try:
            for batch in batches:
                report.batches += 1
                self._send_one(batch, path, encode, report, check)
        except DeliveryError as exc:
            report.seconds = time.monotonic() - started
            exc.report = report
            raise
        report.seconds = time.monotonic() - started
        return report

    def _send_one(self, batch, path, encode, report, check) -> None:
        queue: deque[tuple[list[Item], int, bool]] = deque([(batch, 0, False)])  # (items, tries, maybe landed)
        while queue:
            items, tries, maybe_landed = queue.popleft()
            if tries > self.max_retries:
                raise DeliveryUnavailableError(
                    f"{self.name} at {self.url}: gave up on a batch of {len(items)} events after {tries} attempts"
                )
            body = encode(items)
            report.attempts += 1
            report.bytes_sent += len(body)
            report.bytes_raw += len(body)
            try:
                answer = self.post(path, body)
            except NoAnswer as failure:
                report.retries[failure.cause] += 1
                if failure.ambiguous:
                    report.possible_duplicates += len(items)
                delay = self.backoff(tries + 1, None)
                log.warning("%s: %s on a batch of %d; retry in %.2fs", self.name, failure.cause, len(items), delay)
                self._sleep(delay)
                queue.appendleft((items, tries + 1, maybe_landed or failure.ambiguous))
                continue
            status = answer.status
            if 200 <= status < 300:
                bad = dict(check(items, answer)) if check else {}
                for index, item in enumerate(items):
                    if index in bad:
                        report.dead_letter.append(DeadLetter(item.event_id, status, bad[index]))
                    else:
                        report.delivered_ids.append(item.event_id)
            elif status in (401, 403):
                raise DeliveryAuthError(
                    f"{self.name} at {self.url} refused the credential (****): HTTP {status} {answer.text[:200]!r}",
                    status=status,
                )
            elif status in INVALID_STATUSES:
                if len(items) == 1:
                    report.dead_letter.append(DeadLetter(items[0].event_id, status, answer.text[:300]))
                    log.warning("%s dead-lettered event %s: HTTP %s", self.name, items[0].event_id, status)
                else:
                    middle = len(items) // 2
                    queue.appendleft((items[middle:], 0, False))
                    queue.appendleft((items[:middle], 0, False))
            elif cause := transient_cause(status):
                report.retries[cause] += 1
                delay = self.backoff(tries + 1, answer.retry_after)
                log.warning("%s: HTTP %s (attempt %d); retry in %.2fs", self.name, status, tries + 1, delay)
                self._sleep(delay)
                queue.appendleft((items, tries + 1, maybe_landed))
            else:
                raise DeliveryError(
                    f"{self.name} at {self.url} answered HTTP {status} {answer.text[:200]!r}", status=status
                )
