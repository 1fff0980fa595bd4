"""The destinations file: which organization's events go where. Validated in full before anything is sent.

```yaml
destinations:
  <name>:                       # [a-z0-9_]+, the ledger's key and the summary's label
    type: s3 | splunk_hec | heap | ga4
    organizations: ["*"]        # organization ids, or "*" for every organization
    connection_id: <airflow connection id>   # every credential lives in that Airflow Connection
    ...type options (below)
```

- ``s3``: ``bucket``, ``prefix`` (may contain ``{organization_id}``), ``kinds`` (``Session`` = App Events,
  ``Audit`` = Audit logs), ``sse_kms_key_id`` (SSE-KMS when set), ``max_part_events``, ``max_part_bytes``.
- ``splunk_hec``: ``index``, ``source``, ``sourcetype``, ``host``, ``ack``, ``max_batch_events``,
  ``max_batch_bytes``, ``ack_poll_seconds``, ``ack_timeout_seconds``, ``max_retries``. Sends App Events.
- ``heap``: ``app_id``. Sends analytics events.
- ``ga4``: ``measurement_id``, ``validate`` (send each batch to ``/debug/mp/collect`` first). Sends analytics events.

Every type also takes ``max_event_age_hours`` (events older are dead-lettered ``too_old_for_destination``, never sent:
GA4's 72 hours by default and at most; see ``MAX_EVENT_AGE_HOURS`` for each destination's documented limit) and
``max_in_flight`` (parts sent at once).

A key that looks like a credential (token, password, secret, access key) is refused: those belong in the
Connection. Unknown keys are refused too, so a typo cannot silently turn an option off.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eventpipe import settings
from eventpipe.contract import ANALYTICS, AUDIT, SESSION

TYPES = ("s3", "splunk_hec", "heap", "ga4")
S3_KINDS = (SESSION, AUDIT)
WILDCARD = "*"
_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MEASUREMENT_ID = re.compile(r"^G-[A-Z0-9]{4,20}$")
_SECRET_WORDS = ("token", "password", "secret", "access_key", "api_key", "apikey", "credential")
_COMMON = {"type", "organizations", "connection_id", "enabled", "max_retries", "max_event_age_hours", "max_in_flight"}
# The documented limit on how old an event each destination takes (max_event_age_hours; None: none documented):
# - GA4's Measurement Protocol ignores events whose timestamp_micros is over 72 hours in the past, answering 2xx
#   (developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events: "backdate events by up to 72
#   hours").
# - Heap's server-side track takes any ISO-8601 timestamp (developers.heap.io/reference/track-1: "Defaults to the
#   current time if not provided"; its bulk-track example backdates years): none.
# - Splunk HEC indexes the event's own `time`, however old; the index then keeps only events younger than its
#   frozenTimePeriodInSecs (indexes.conf, default 188,697,600 s, about six years): none by default, set
#   max_event_age_hours to the index's retention to dead-letter what it would freeze at once.
# - S3 keeps whatever it is given: none.
MAX_EVENT_AGE_HOURS: dict[str, int | None] = {"ga4": 72, "heap": None, "splunk_hec": None, "s3": None}
# Parts sent at once to a destination (one thread each): HEC awaits each part's acknowledgement (seconds on Splunk
# Cloud), GA4 sends one request per session.
MAX_IN_FLIGHT = {"splunk_hec": 8, "ga4": 16, "heap": 1, "s3": 4}
_OPTIONS: dict[str, dict[str, Any]] = {
    "s3": {
        "bucket": None,
        "prefix": "eventpipe/{organization_id}",
        "kinds": list(S3_KINDS),
        "sse_kms_key_id": None,
        "max_part_events": 100_000,
        "max_part_bytes": 64 * 1024 * 1024,
    },
    "splunk_hec": {
        "index": None,
        "source": "eventpipe",
        "sourcetype": "eventpipe:app_event",
        "host": "eventpipe",
        "ack": False,
        "max_batch_events": 500,
        "max_batch_bytes": 900_000,
        "ack_poll_seconds": 5.0,
        "ack_timeout_seconds": 300.0,
    },
    "heap": {"app_id": None},
    "ga4": {"measurement_id": None, "validate": False},
}
_REQUIRED = {"s3": ("bucket",), "splunk_hec": (), "heap": ("app_id",), "ga4": ("measurement_id",)}
_KINDS = {"splunk_hec": (SESSION,), "heap": (ANALYTICS,), "ga4": (ANALYTICS,)}


class DestinationConfigError(ValueError):
    """The destinations file is not valid; the message names the file, the destination and the key."""


@dataclass(frozen=True)
class Destination:
    name: str
    type: str
    organizations: tuple[str, ...]
    connection_id: str
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    max_retries: int = 8
    enabled: bool = True
    max_event_age_hours: int | None = None  # older events are dead-lettered too_old_for_destination, not sent
    max_in_flight: int = 1

    @property
    def kinds(self) -> tuple[str, ...]:
        """``Session`` / ``Audit`` for S3; App Events (``Session``) for HEC; ``analytics`` for Heap and GA4."""
        if self.type == "s3":
            return tuple(self.options["kinds"])
        return _KINDS[self.type]

    def applies_to(self, organization_id: str) -> bool:
        return WILDCARD in self.organizations or organization_id in self.organizations


def default_path() -> Path:
    """``EVENTPIPE_DESTINATIONS`` if set, else ``config/destinations.example.yml`` (the local default)."""
    value = os.environ.get("EVENTPIPE_DESTINATIONS")
    return Path(value) if value else settings.REPO_ROOT / "config" / "destinations.example.yml"


def load_destinations(path: Path | str | None = None) -> list[Destination]:
    path = Path(path) if path else default_path()
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise DestinationConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise DestinationConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_destinations(document, source=str(path))


def parse_destinations(document: Any, source: str = "destinations") -> list[Destination]:
    if not isinstance(document, dict) or set(document) - {"destinations"}:
        raise DestinationConfigError(f"{source}: expected a mapping with one key, 'destinations'")
    entries = document.get("destinations") or {}
    if not isinstance(entries, dict):
        raise DestinationConfigError(f"{source}: 'destinations' must map names to settings")
    return [_destination(source, name, entry) for name, entry in entries.items()]


def _destination(source: str, name: Any, entry: Any) -> Destination:
    where = f"{source}: destination {name!r}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise DestinationConfigError(f"{where}: names are 1-64 of [a-z0-9_]")
    if not isinstance(entry, dict):
        raise DestinationConfigError(f"{where}: settings must be a mapping")
    secrets = [key for key in entry if any(word in str(key).lower() for word in _SECRET_WORDS)]
    if secrets:
        raise DestinationConfigError(
            f"{where}: {', '.join(map(str, secrets))} look like credentials; keep them in the Airflow Connection "
            "named by connection_id, never in this file"
        )
    kind = entry.get("type")
    if kind not in TYPES:
        raise DestinationConfigError(f"{where}: type must be one of {', '.join(TYPES)}, not {kind!r}")
    unknown = set(entry) - _COMMON - set(_OPTIONS[kind])
    if unknown:
        raise DestinationConfigError(f"{where}: unknown keys {sorted(unknown)} for type {kind}")
    organizations = entry.get("organizations")
    if (
        not isinstance(organizations, list)
        or not organizations
        or not all(isinstance(org, str) and org for org in organizations)
    ):
        raise DestinationConfigError(f"{where}: organizations must be a non-empty list of ids (or ['*'])")
    connection_id = entry.get("connection_id")
    if not isinstance(connection_id, str) or not re.match(r"^[A-Za-z0-9_.-]+$", connection_id):
        raise DestinationConfigError(f"{where}: connection_id (an Airflow Connection id) is required")
    max_retries = entry.get("max_retries", 8)
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or not 0 <= max_retries <= 20:
        raise DestinationConfigError(f"{where}: max_retries must be an integer in [0, 20]")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise DestinationConfigError(f"{where}: enabled must be true or false")
    limit = MAX_EVENT_AGE_HOURS[kind]
    max_age = entry.get("max_event_age_hours", limit)
    if max_age is not None and (not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 1):
        raise DestinationConfigError(f"{where}: max_event_age_hours must be a positive number of hours, or null")
    if limit is not None and (max_age is None or max_age > limit):
        raise DestinationConfigError(
            f"{where}: max_event_age_hours must be at most {limit}: {kind} ignores older events while answering 2xx"
        )
    in_flight = entry.get("max_in_flight", MAX_IN_FLIGHT[kind])
    if not isinstance(in_flight, int) or isinstance(in_flight, bool) or not 1 <= in_flight <= 64:
        raise DestinationConfigError(f"{where}: max_in_flight must be an integer in [1, 64]")
    options = {**_OPTIONS[kind], **{k: v for k, v in entry.items() if k in _OPTIONS[kind]}}
    for key in _REQUIRED[kind]:
        if not options.get(key):
            raise DestinationConfigError(f"{where}: {key} is required for type {kind}")
    _check_options(where, kind, options)
    return Destination(
        name, kind, tuple(organizations), connection_id, options, max_retries, enabled, max_age, in_flight
    )


def _check_options(where: str, kind: str, options: dict[str, Any]) -> None:
    def positive_int(key: str, upper: int) -> None:
        value = options[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= upper:
            raise DestinationConfigError(f"{where}: {key} must be an integer in [1, {upper:,}]")

    if kind == "s3":
        if not _BUCKET.match(str(options["bucket"])):
            raise DestinationConfigError(f"{where}: {options['bucket']!r} is not a valid S3 bucket name")
        kinds = options["kinds"]
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= set(S3_KINDS):
            raise DestinationConfigError(f"{where}: kinds must be a non-empty subset of {list(S3_KINDS)}")
        prefix = options["prefix"]
        if not isinstance(prefix, str) or prefix.startswith("/") or ".." in prefix.split("/"):
            raise DestinationConfigError(f"{where}: prefix must be a relative key prefix")
        if set(re.findall(r"{([^}]*)}", prefix)) - {"organization_id"}:
            raise DestinationConfigError(f"{where}: prefix may only use the placeholder {{organization_id}}")
        positive_int("max_part_events", 5_000_000)
        positive_int("max_part_bytes", 5 * 1024**3)  # one PUT carries at most 5 GB
        sse = options["sse_kms_key_id"]
        if sse is not None and (not isinstance(sse, str) or not sse):
            raise DestinationConfigError(f"{where}: sse_kms_key_id must be a KMS key id, ARN or alias")
    elif kind == "splunk_hec":
        positive_int("max_batch_events", 100_000)
        positive_int("max_batch_bytes", 100 * 1024 * 1024)
        if not isinstance(options["ack"], bool):
            raise DestinationConfigError(f"{where}: ack must be true or false")
        for key in ("ack_poll_seconds", "ack_timeout_seconds"):
            value = options[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise DestinationConfigError(f"{where}: {key} must be a positive number")
    elif kind == "ga4":
        if not _MEASUREMENT_ID.match(str(options["measurement_id"])):
            raise DestinationConfigError(f"{where}: measurement_id must look like G-XXXXXXXXXX")
        if not isinstance(options["validate"], bool):
            raise DestinationConfigError(f"{where}: validate must be true or false")
    elif kind == "heap" and not isinstance(options["app_id"], str | int):
        raise DestinationConfigError(f"{where}: app_id must be the Heap app (environment) id")
