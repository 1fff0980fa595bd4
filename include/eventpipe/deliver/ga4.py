"""GA4 Measurement Protocol (or a server-side GTM endpoint): analytics events, at most 25 a request.

``POST <url>/mp/collect?measurement_id=...&api_secret=...`` with ``{"client_id", "timestamp_micros", "events":
[{"name", "params"}]}``. One request carries one ``client_id``, derived from the session, which is the pair
(``organizationId``, ``sessionId``): session ids are unique only within an organization, so two organizations
reusing one get different client ids. Events are grouped by client id, then cut into requests of at most 25
events (and 130 kB).

Limits enforced before sending (GA4 drops what breaks them, silently):

- event names: letters, digits and underscores, starting with a letter, at most 40 characters. A name is made
  so by replacing every other run of characters with ``_`` ("Page Navigate" -> ``Page_Navigate``); a name that
  still fails (empty, no leading letter, a reserved name or prefix) is dead-lettered;
- at most 25 parameters an event (``event_id``, ``session_id`` and ``app_id`` first, then the properties in order);
  parameter names follow the name rule; values are numbers or strings of at most 100 characters (longer are cut).

``validate=True`` is the validation mode: each batch goes to ``/debug/mp/collect`` first; events it reports
(``validationMessages``) are dead-lettered and the rest is sent to ``/mp/collect``.

The ``api_secret`` travels in the query string, so every message that could show a URL is redacted.
GA4 does not deduplicate: a resend after a lost answer is counted in ``possible_duplicates``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from eventpipe.deliver.events import UNSENDABLE, Event, unsendable_reason
from eventpipe.deliver.json_sender import Answer, Item, JsonSender
from eventpipe.deliver.transport import DeadLetter, DeliveryReport

MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_NAME = 40
MAX_PARAM_VALUE = 100
MAX_REQUEST_BYTES = 130_000
COLLECT_PATH = "/mp/collect"
DEBUG_PATH = "/debug/mp/collect"
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_NAMES = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure", "app_background",
        "app_clear_data", "app_exception", "app_remove", "app_store_refund", "app_store_subscription_cancel",
        "app_store_subscription_convert", "app_store_subscription_renew", "app_update", "app_upgrade",
        "dynamic_link_app_open", "dynamic_link_app_update", "dynamic_link_first_open", "error", "first_open",
        "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "os_update", "session_start", "session_start_with_rollout", "user_engagement",
    }
)  # fmt: skip


def ga4_name(text: str) -> str | None:
    """A GA4-valid event or parameter name for ``text``, or None when none can be made."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text.strip()).strip("_")[:MAX_NAME]
    if not NAME.match(name) or name.lower() in RESERVED_NAMES or name.lower().startswith(RESERVED_PREFIXES):
        return None
    return name


def client_id(organization_id: str, session_id: str) -> str:
    """The GA4 ``client_id`` of a session: a hash of (organization, session), 32 hex characters, stable."""
    return hashlib.sha256(f"{organization_id}\n{session_id}".encode()).hexdigest()[:32]


def ga4_event(event: Event) -> tuple[str, dict[str, Any]] | str:
    """``(client_id, {"name", "params", "timestamp_micros"})`` for one analytics event, or why it cannot be sent."""
    if not event.session_id:
        return "no session id to use as the GA4 client_id"
    name = ga4_name(event.analytics_name or "")
    if name is None:
        return f"event name {event.analytics_name!r} cannot be made a valid GA4 name"
    raw = json.loads(event.analytics_properties) if event.analytics_properties else {}
    if not isinstance(raw, dict):
        raw = {"value": raw}
    params: dict[str, Any] = {"event_id": event.event_id, "session_id": event.session_id}
    if event.app_id:
        params["app_id"] = event.app_id
    for key, value in raw.items():
        if len(params) >= MAX_PARAMS:
            break
        param = ga4_name(str(key))
        if param is None or param in params:
            continue
        params[param] = _value(value)
    payload = {"name": name, "params": params, "timestamp_micros": event.event_time_ms * 1000}
    return client_id(event.organization_id, event.session_id), payload


def _value(value: Any) -> str | int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text[:MAX_PARAM_VALUE]


class Ga4Client:
    def __init__(
        self,
        url: str,
        measurement_id: str,
        api_secret: str,
        *,
        validate: bool = False,
        max_batch_events: int = MAX_EVENTS,
        **options: Any,
    ) -> None:
        if not 1 <= max_batch_events <= MAX_EVENTS:
            raise ValueError(f"GA4 takes at most {MAX_EVENTS} events a request")
        if not api_secret:
            raise ValueError("GA4 needs an api_secret (the connection's password)")
        self.validate = validate
        self.max_batch_events = max_batch_events
        query = urlencode({"measurement_id": measurement_id, "api_secret": api_secret})
        self._collect = f"{COLLECT_PATH}?{query}"
        self._debug = f"{DEBUG_PATH}?{query}"
        self._sender = JsonSender(url, name="GA4", secrets=[api_secret], **options)

    def __repr__(self) -> str:
        return f"Ga4Client(url={self._sender.url!r}, api_secret=****)"

    def close(self) -> None:
        self._sender.close()

    def __enter__(self) -> Ga4Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, events: Iterable[Event]) -> DeliveryReport:
        report = DeliveryReport()
        by_client: dict[str, list[Item]] = {}
        for event in events:
            try:
                prepared = ga4_event(event)
            except UNSENDABLE as exc:  # properties nested too deeply to parse, say: this event only
                prepared = unsendable_reason(exc)
            if isinstance(prepared, str):
                report.dead_letter.append(DeadLetter(event.event_id, None, prepared))
                continue
            client_id, payload = prepared
            by_client.setdefault(client_id, []).append(Item(event.event_id, (client_id, payload)))
        batches = list(self._batches(by_client))
        if self.validate:
            batches = self._validated(batches, report)
        return self._sender.send(batches, self._collect, self._encode, report)

    def _batches(self, by_client: dict[str, list[Item]]) -> Iterator[list[Item]]:
        for items in by_client.values():
            batch: list[Item] = []
            size = 0
            for item in items:
                item_size = len(json.dumps(item.payload[1], ensure_ascii=False)) + 1
                if batch and (len(batch) >= self.max_batch_events or size + item_size > MAX_REQUEST_BYTES - 200):
                    yield batch
                    batch, size = [], 0
                batch.append(item)
                size += item_size
            if batch:
                yield batch

    def _validated(self, batches: list[list[Item]], report: DeliveryReport) -> list[list[Item]]:
        """Validation mode: ask ``/debug/mp/collect`` about each batch; keep only the events it has no message for."""
        kept: list[list[Item]] = []
        verdicts: dict[int, dict[int, str]] = {}

        def check(items: list[Item], answer: Answer) -> list[tuple[int, str]]:
            bad = _validation_messages(answer, len(items))
            verdicts[id(items)] = dict(bad)
            return []  # nothing is delivered by a debug request; the verdicts are applied below

        debug = DeliveryReport()
        self._sender.send(batches, self._debug, self._encode, debug, check=check)
        report.attempts += debug.attempts
        report.bytes_sent += debug.bytes_sent
        for batch in batches:
            bad = verdicts.get(id(batch), {})
            for index, reason in bad.items():
                report.dead_letter.append(DeadLetter(batch[index].event_id, 400, reason))
            good = [item for index, item in enumerate(batch) if index not in bad]
            if good:
                kept.append(good)
        return kept

    @staticmethod
    def _encode(items: list[Item]) -> bytes:
        client_id = items[0].payload[0]
        body = {
            "client_id": client_id,
            "timestamp_micros": min(item.payload[1]["timestamp_micros"] for item in items),
            "events": [item.payload[1] for item in items],  # each with its own timestamp_micros
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _validation_messages(answer: Answer, size: int) -> list[tuple[int, str]]:
    """``[(event index, description)]`` from a ``/debug/mp/collect`` answer; a message on no event marks them all."""
    messages = (answer.body or {}).get("validationMessages") if isinstance(answer.body, dict) else None
    bad: dict[int, str] = {}
    for message in messages or []:
        path = str(message.get("fieldPath", ""))
        match = re.match(r"events\[(\d+)\]", path)
        text = f"{message.get('validationCode', 'INVALID')}: {message.get('description', '')} ({path})"
        if match and int(match.group(1)) < size:
            bad.setdefault(int(match.group(1)), text)
        else:
            for index in range(size):
                bad.setdefault(index, text)
    return sorted(bad.items())
