"""Valid Session, Audit and Platform events, as the platform emits them, from a seeded RNG.

Times are integer epoch milliseconds (UTC) throughout; ``eventTime`` is rendered per event in one of
the formats the landing contract allows, so the loader has to handle the mix.
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from datetime import datetime, timedelta
from itertools import accumulate
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from eventpipe.devtools.generate.catalog import App, Org, random_id

Event = dict[str, Any]
TimedEvent = tuple[int, Event]  # (event time in epoch ms, the event object)

_EPOCH = datetime(1970, 1, 1)  # naive on purpose: timedelta arithmetic stays in UTC
OFFSETS = ((120, "+02:00"), (-300, "-05:00"), (330, "+05:30"), (540, "+09:00"), (-180, "-03:00"))
CXR_VERSIONS = ("4.12.1", "4.13.0", "5.0.0-rc.2")
# Compact, UTF-8 as is (non-ASCII text stays multi-byte), and never NaN: one event per line.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# The C encoder behind it, built once: JSONEncoder.encode rebuilds it on every call, which costs
# about 40% of encoding a small event. Falls back to the public API where the C module is missing.
_C_ENCODE = (
    c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)


class Weighted:
    """Draw from ``values`` with the given relative weights (one ``random()`` and a bisect)."""

    def __init__(self, pairs: tuple[tuple[Any, float], ...]) -> None:
        self.values = tuple(value for value, _ in pairs)
        self.cumulative = tuple(accumulate(weight for _, weight in pairs))

    def draw(self, rng: random.Random) -> Any:
        return self.values[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


# Device classes with the user agents and screens that go with them.
DEVICES = Weighted(
    (
        (("desktop", ("Chrome", "Edge", "Firefox", "Safari"), ("Windows", "macOS", "Linux"), (1920, 1080)), 0.5),
        (("mobile", ("Chrome", "Safari", "Samsung Internet"), ("iOS", "Android"), (390, 844)), 0.4),
        (("tablet", ("Safari", "Chrome"), ("iPadOS", "Android"), (820, 1180)), 0.1),
    )
)
MOBILE = DEVICES.values[1]
SOURCE_DETAILS = {
    "web": "https://{domain}/{slug}",
    "sms": "sms:+1-555-0100",
    "voice": "voice:+1-555-0199",
    "api": "https://api.{domain}/v1/{slug}/sessions",
}
SOURCE_RUNTIMES = Weighted((("web", 0.7), ("sms", 0.15), ("voice", 0.05), ("api", 0.1)))
ACTIONS_PER_PAGE = Weighted(((0, 0.3), (1, 0.45), (2, 0.25)))
CSAT_SCORES = Weighted(((1, 0.05), (2, 0.07), (3, 0.18), (4, 0.35), (5, 0.35)))
ACTION_ERRORS = (
    ("HTTP_500", "upstream returned 500 Internal Server Error"),
    ("TIMEOUT", "action did not finish within 10000 ms"),
    ("VALIDATION", "required input 'email' is empty"),
)
RUNTIME_ERRORS = (
    ("EXPRESSION_ERROR", "cannot read property 'zip' of NULL"),
    ("NULL_REFERENCE", "variable session.customer is NULL"),
)
# Non-ASCII on purpose: valid UTF-8 must load, only invalid bytes are quarantined.
CITIES = ("Berlin", "Zürich", "São Paulo", "Kraków", "東京", "Austin")

AUDIT_TYPES = Weighted(
    (
        ("user_login", 0.22),
        ("portal_page_view", 0.2),
        ("user_logout", 0.15),
        ("invalid_login", 0.06),
        ("app_deployed", 0.06),
        ("deployment_changed", 0.05),
        ("saml_assertion_received", 0.05),
        ("new_resource", 0.04),
        ("app_created", 0.03),
        ("invite_sent", 0.03),
        ("user_created", 0.03),
        ("new_adapter", 0.02),
        ("data_migration", 0.02),
        ("deleted_api_key", 0.02),
        ("org_created", 0.005),
    )
)
LOGIN_TYPES = ("password", "saml", "google")
RESOURCE_TYPES = ("datastore", "notifier", "webhook", "embed")

PLATFORM_TYPES = Weighted((("connection_request", 0.6), ("deployment_health", 0.25), ("service_error", 0.15)))
SERVICES = Weighted(
    (
        (("api-gateway", "2.14.3"), 0.3),
        (("connection-proxy", "3.2.1"), 0.25),
        (("datastore", "1.9.0"), 0.2),
        (("workflow-runner", "5.0.2"), 0.15),
        (("sms-gateway", "1.4.7"), 0.06),
        (("voice-bridge", "0.9.12"), 0.04),
    )
)
PLATFORM_STATUS = {
    "connection_request": Weighted((("ok", 0.92), ("error", 0.05), ("timeout", 0.03))),
    "deployment_health": Weighted((("ok", 0.95), ("error", 0.05))),
    "service_error": Weighted((("error", 0.7), ("timeout", 0.3))),
}
PLATFORM_ERRORS = ("connection refused", "TLS handshake failed", "503 Service Unavailable", "rate limited")


def encode(value: Any) -> bytes:
    if _C_ENCODE is None:
        return _ENCODER.encode(value).encode()
    return "".join(_C_ENCODE(value, 0)).encode()


def iso_utc(ms: int) -> str:
    """ISO-8601 UTC with millisecond precision and ``Z``: how the truth and the ``Z`` format render time."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def iso_with_offset(ms: int, offset_minutes: int, suffix: str) -> str:
    """The same instant as ``ms`` written as local time at a UTC offset, e.g. ``...T12:00:00.000+02:00``."""
    local = _EPOCH + timedelta(milliseconds=ms + offset_minutes * 60_000)
    return local.isoformat(timespec="milliseconds") + suffix


class EventFactory:
    """Builds valid events; every random draw comes from the one seeded RNG, in a fixed order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new_id(self) -> str:
        return random_id(self.rng)

    def event_time(self, ms: int) -> str | int:
        """Mostly ISO with ``Z``, some ISO at a non-zero offset, some epoch milliseconds (a JSON number)."""
        draw = self.rng.random()
        if draw < 0.2:
            return ms
        if draw < 0.4:
            offset_minutes, suffix = self.rng.choice(OFFSETS)
            return iso_with_offset(ms, offset_minutes, suffix)
        return iso_utc(ms)

    def envelope(self, org: Org, kind: str, event_type: str, ms: int) -> Event:
        return {
            "eventId": self.new_id(),
            "organizationId": org.org_id,
            "eventTime": self.event_time(ms),
            "kind": kind,
            "type": event_type,
        }

    def add_unknown_fields(self, event: Event) -> None:
        # The platform evolves: producers add fields the loader has never seen; they must be kept.
        if self.rng.random() < 0.03:
            event["cxrVersion"] = self.rng.choice(CXR_VERSIONS)

    def session(self, org: Org, start_ms: int) -> list[TimedEvent]:
        """One Journey: ``session_start``, pages with actions and metrics, then (mostly) CSAT and ``session_end``."""
        return Journey(self, org, start_ms).walk()

    def audit(self, org: Org, ms: int) -> Event:
        event_type = AUDIT_TYPES.draw(self.rng)
        event = self.envelope(org, "Audit", event_type, ms)
        event.update(self._audit_fields(org, event_type))
        self.add_unknown_fields(event)
        return event

    def _audit_fields(self, org: Org, event_type: str) -> Event:
        rng = self.rng
        user = rng.choice(org.users)
        actor = {"userId": user.user_id, "email": user.email}
        if event_type in ("user_login", "user_logout", "saml_assertion_received"):
            login_type = "saml" if event_type == "saml_assertion_received" else rng.choice(LOGIN_TYPES)
            return {**actor, "loginType": login_type, "domain": org.domain}
        if event_type == "invalid_login":
            return {"email": user.email, "loginType": "password", "domain": org.domain}
        if event_type in ("app_created", "app_deployed", "deployment_changed"):
            return {**actor, **self._app_resource(rng.choice(org.apps), event_type)}
        if event_type in ("invite_sent", "user_created"):
            return {**actor, "roleId": rng.choice(org.role_ids)}
        if event_type == "deleted_api_key":
            return {**actor, "apiKeyId": rng.choice(org.api_key_ids)}
        if event_type == "org_created":
            return {**actor, "domain": org.domain}
        resource_type = "page" if event_type == "portal_page_view" else rng.choice(RESOURCE_TYPES)
        return {**actor, "resourceType": resource_type, "resourceId": self.new_id()}

    def _app_resource(self, app: App, event_type: str) -> Event:
        if event_type == "app_created":
            return {"appId": app.app_id, "resourceType": "app", "resourceId": app.app_id}
        branch = self.rng.choice(app.branches)
        return {"appId": app.app_id, "resourceType": "deployment", "resourceId": branch.deploy_ids[-1]}

    def platform(self, org: Org, ms: int) -> Event:
        rng = self.rng
        event_type = PLATFORM_TYPES.draw(rng)
        service, version = SERVICES.draw(rng)
        status = PLATFORM_STATUS[event_type].draw(rng)
        duration = 30_000 + rng.randrange(5_000) if status == "timeout" else 5 + int(rng.random() ** 3 * 2_000)
        event = self.envelope(org, "Platform", event_type, ms)
        event.update(
            appId=rng.choice(org.apps).app_id,
            service=service,
            serviceVersion=version,
            status=status,
            message=self._platform_message(status, duration),
            connectionId=self.new_id(),
            groupId=rng.choice(org.group_ids),
            durationMillis=duration,
        )
        self.add_unknown_fields(event)
        return event

    def _platform_message(self, status: str, duration: int) -> str:
        if status == "ok":
            return "OK"
        if status == "timeout":
            return f"upstream timed out after {duration} ms"
        return self.rng.choice(PLATFORM_ERRORS)


class Journey:
    """One session's events in time order; ``t`` is the clock, advanced between events."""

    def __init__(self, factory: EventFactory, org: Org, start_ms: int) -> None:
        rng = factory.rng
        self.factory = factory
        self.rng = rng
        self.org = org
        self.app = org.apps[0] if rng.random() < 0.5 else rng.choice(org.apps)  # the first app is busiest
        branch = self.app.branches[0] if rng.random() < 0.9 else rng.choice(self.app.branches[1:])
        deploy_id = branch.deploy_ids[-1] if rng.random() < 0.9 else rng.choice(branch.deploy_ids)
        self.session_fields = {
            "appId": self.app.app_id,
            "branchId": branch.branch_id,
            "deployId": deploy_id,
            "sessionId": factory.new_id(),
        }
        self.channel_id = factory.new_id()
        self.runtime = SOURCE_RUNTIMES.draw(rng)
        self.t = start_ms
        self.events: list[TimedEvent] = []

    def walk(self) -> list[TimedEvent]:
        rng = self.rng
        self.start()
        for index, page in enumerate(self.app.pages[: rng.randint(2, len(self.app.pages))]):
            self.visit(index, page)
        if rng.random() < 0.85:  # the rest stay open: no session_end ever arrives
            self.finish()
        return self.events

    def add(self, event_type: str, fields: Event) -> None:
        event = self.factory.envelope(self.org, "Session", event_type, self.t)
        event.update(self.session_fields)
        event.update(fields)
        self.factory.add_unknown_fields(event)
        self.events.append((self.t, event))

    def wait(self, low_ms: int, high_ms: int) -> None:
        self.t += low_ms + int(self.rng.random() * (high_ms - low_ms))

    def start(self) -> None:
        rng = self.rng
        # Text and voice Journeys run on phones; web and API ones on any device.
        device = MOBILE if self.runtime in ("sms", "voice") else DEVICES.draw(rng)
        device_class, browsers, systems, (width, height) = device
        source = SOURCE_DETAILS[self.runtime].format(domain=self.org.domain, slug=self.app.slug)
        self.add(
            "session_start",
            {
                "actorId": self.factory.new_id(),
                "sourceRuntime": self.runtime,
                "sourceDetail": source,
                "channelId": self.channel_id,
                "userAgent": {"deviceClass": device_class, "browser": rng.choice(browsers), "os": rng.choice(systems)},
                "screenWidth": width,
                "screenHeight": height,
            },
        )

    def visit(self, index: int, page: str) -> None:
        rng = self.rng
        self.wait(800, 15_000)
        viewed_at = self.t
        self.add("page_view", {"flowId": self.app.slug, "activityId": f"{self.app.slug}-{index}", "pageName": page})
        if rng.random() < 0.4:
            self.wait(50, 500)
            self.add("analytics_event", {"analyticsEvent": self.analytics_event(page)})
        for _ in range(ACTIONS_PER_PAGE.draw(rng)):
            self.run_action()
        if rng.random() < 0.03:
            self.wait(100, 3_000)
            code, message = rng.choice(RUNTIME_ERRORS)
            self.add("runtime_error", {"code": code, "message": message})
        if rng.random() < (0.8 if self.runtime in ("sms", "voice") else 0.15):
            self.exchange_messages()
        self.wait(3_000, 60_000)
        seconds_on_page = round((self.t - viewed_at) / 1000, 1)
        self.add("custom_metric", {"customMetric": {"key": "time_on_page", "field": page, "value": seconds_on_page}})

    def analytics_event(self, page: str) -> Event:
        if self.rng.random() < 0.7:
            return {"event": "Page Navigate", "properties": {"Page-Name": page, "View-Name": f"{page} View"}}
        return {"event": "Form Submitted", "properties": {"form": page, "city": self.rng.choice(CITIES)}}

    def run_action(self) -> None:
        rng = self.rng
        action = rng.choice(self.app.actions)
        action_ref = {"id": action.action_id, "name": action.name}
        self.wait(300, 8_000)
        self.add("action_run", {"action": action_ref, "durationMillis": 20 + int(rng.random() ** 2 * 3_000)})
        if rng.random() < 0.08:
            self.wait(10, 1_000)
            code, message = rng.choice(ACTION_ERRORS)
            self.add("action_error", {"action": action_ref, "code": code, "message": message})

    def exchange_messages(self) -> None:
        self.wait(200, 2_000)
        self.add("message_sent", {"channelId": self.channel_id, "status": "sent"})
        if self.rng.random() < 0.7:
            self.wait(5_000, 40_000)
            self.add("message_received", {"channelId": self.channel_id})

    def finish(self) -> None:
        rng = self.rng
        if rng.random() < 0.8:
            # A few users change their rating: the last CSAT by event time is the one that counts.
            for _ in range(2 if rng.random() < 0.1 else 1):
                self.wait(1_000, 20_000)
                score = CSAT_SCORES.draw(rng)
                self.add("custom_metric", {"customMetric": {"key": "CSAT", "field": "score", "value": score}})
        started_at = self.events[0][0]
        self.wait(500, 10_000)
        self.add("session_end", {"durationMillis": self.t - started_at})
