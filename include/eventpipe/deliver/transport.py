"""The one HTTP transport every delivery uses (Splunk HEC, Heap, GA4): a kept-alive connection, what a lost
answer means, backoff with full jitter that honours ``Retry-After``, which statuses are transient, the error tree,
the report of a send, and redaction of secrets from anything that may reach a log, a ledger row or an exception.

Errors: ``DeliveryError`` (a send that cannot go on; ``report`` holds what was delivered before it stopped) with
``DeliveryAuthError`` (401/403, retrying cannot help), ``DeliveryUnavailableError`` (transient failures outlasted
the retries) and ``DeliveryProtocolError`` (client and endpoint disagree). Each client's own errors subclass these.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import re
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, urlsplit

REDACTED = "****"
_SECRET_KEY = re.compile(r"secret|token|password|key", re.IGNORECASE)


class DeliveryError(Exception):
    """A send that cannot go on; ``report`` holds what was delivered (and dead-lettered) before it stopped."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.report: DeliveryReport | None = None


class DeliveryAuthError(DeliveryError):
    """401/403: the credential is missing, wrong or revoked. Retrying cannot help; fail loudly."""


class DeliveryUnavailableError(DeliveryError):
    """Transient failures outlasted ``max_retries``; a later task retry may succeed."""


class DeliveryProtocolError(DeliveryError):
    """Client and endpoint disagree (an unexpected status, a missing acknowledgement): a configuration error."""


class DeadLetter(NamedTuple):
    """An event that was not delivered and must not be retried as is.

    ``code`` is the endpoint's HEC code (or HTTP status 413), or None when the client refused it before sending.
    """

    event_id: str
    code: int | None
    text: str


@dataclass
class DeliveryReport:
    """What one ``send`` did. Counts of events unless named otherwise."""

    delivered_ids: list[str] = field(default_factory=list)
    dead_letter: list[DeadLetter] = field(default_factory=list)
    attempts: int = 0  # POST requests to the event endpoint
    batches: int = 0  # batches cut from the input (before any split or resend)
    bytes_sent: int = 0  # request bodies as sent (gzip when on), every attempt
    bytes_raw: int = 0  # the same bodies uncompressed
    ack_ids: list[int] = field(default_factory=list)
    ack_polls: int = 0
    retries: Counter = field(default_factory=Counter)  # event-batch resends by cause
    ack_query_retries: Counter = field(default_factory=Counter)  # /ack requests repeated, by cause
    duplicates_sent: int = 0  # events the endpoint provably accepted more than once
    possible_duplicates: int = 0  # events resent while an earlier copy might have been accepted
    seconds: float = 0.0

    @property
    def delivered(self) -> int:
        return len(self.delivered_ids)

    def summary(self) -> str:
        retries = ", ".join(f"{cause} {n}" for cause, n in sorted(self.retries.items())) or "none"
        return (
            f"{self.delivered:,} delivered, {len(self.dead_letter):,} dead-lettered in {self.batches:,} batches "
            f"({self.attempts:,} requests, {self.bytes_sent:,} bytes, {self.seconds:.2f}s); retries: {retries}; "
            f"duplicates sent {self.duplicates_sent:,}, possible {self.possible_duplicates:,}"
        )


class NoAnswer(Exception):
    """The request got no HTTP answer. ``ambiguous``: it went out whole, so the endpoint may have acted on it."""

    def __init__(self, cause: str, ambiguous: bool, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause
        self.ambiguous = ambiguous


class Connection:
    """One kept-alive HTTP(S) connection; a failed request drops it and the next one reconnects."""

    def __init__(self, scheme: str, netloc: str, timeout_s: float) -> None:
        self._scheme = scheme
        self._netloc = netloc
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, path: str, body: bytes, headers: dict[str, str], while_waiting: Callable[[], None] | None = None
    ) -> tuple[int, Any, bytes]:
        """POST and read the answer; ``while_waiting`` runs once the request is out, before the answer is read
        (it must not raise)."""
        conn = self._open()
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # the request did not go out whole: the endpoint cannot have acted on it
            raise NoAnswer(failure_cause(exc), False, type(exc).__name__) from None
        if while_waiting is not None:
            while_waiting()
        try:
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise NoAnswer(failure_cause(exc), True, type(exc).__name__) from None
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def _open(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(
                    self._netloc, timeout=self._timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(self._netloc, timeout=self._timeout_s)
            try:
                conn.connect()
                # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms a request.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                conn.close()
                raise NoAnswer(failure_cause(exc), False, type(exc).__name__) from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def failure_cause(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError) else "connection"


def retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def transient_cause(status: int) -> str | None:
    if status == 503:
        return "busy"
    if status == 429:
        return "throttled"
    if status >= 500:
        return "server_error"
    return None


def backoff(tries: int, retry_after: float | None, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Full jitter (uniform up to an exponential ceiling), never shorter than the endpoint's Retry-After."""
    ceiling = min(max_s, base_s * 2 ** max(tries - 1, 0))
    delay = rng.uniform(0, ceiling)
    return max(delay, retry_after) if retry_after is not None else delay


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each secret masked, as written and URL-encoded (an echoed query string)."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, REDACTED)
    return text


def connection_secrets(conn: Any) -> list[str]:
    """The connection's password, extras named like a secret, and any password inside a URL it holds
    (``endpoint_url``, a proxy, the host): an error that echoes such a URL must not carry it to the ledger."""
    found = [getattr(conn, "password", None)]
    extra = getattr(conn, "extra_dejson", None) or {}
    found += [str(v) for k, v in extra.items() if _SECRET_KEY.search(str(k)) and v]
    found += [_url_password(value) for value in [getattr(conn, "host", None), *_strings(extra)]]
    return [s for s in found if s]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _url_password(value: Any) -> str | None:
    if not isinstance(value, str) or "@" not in value or "://" not in value:
        return None
    with contextlib.suppress(ValueError):
        return urlsplit(value.strip()).password
    return None
