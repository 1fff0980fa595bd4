"""Malformed lines, one fault each, for every quarantine reason code of the landing contract.

Each builder starts from a valid event (already given a fresh ``eventId`` by the caller, so a bad line
never shares an id with a loaded event) and breaks exactly one rule: every rule that comes earlier
in the validator's precedence still passes, so the line is quarantined with exactly the code named.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from eventpipe.contract import LIMIT_REASON_CODES, LINE_REASON_CODES, REQUIRED_FIELDS, SESSION_REQUIRED_FIELDS
from eventpipe.devtools.generate.events import Event, encode, iso_utc, iso_with_offset

# The reason codes the generator writes, in the validator's precedence (eventpipe.contract): every line code
# but the limits, which tests generate; keeping them out leaves generated logs as they were.
REASON_CODES = tuple(code for code in LINE_REASON_CODES if code not in LIMIT_REASON_CODES)
UNKNOWN_KINDS = ("Billing", "session", "AUDIT", "Telemetry", "Platforms")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# (rng, event with a fresh id, its event time in ms, start of the arrival hour in ms) -> the bad line
FaultBuilder = Callable[[random.Random, Event, int, int], bytes]


def malformed_line(code: str, rng: random.Random, event: Event, event_ms: int, arrival_hour_ms: int) -> bytes:
    return _BUILDERS[code](rng, event, event_ms, arrival_hour_ms)


def _invalid_utf8(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    # Latin-1 text from a mis-configured producer, or stray bytes that can never start a UTF-8 character.
    bad = rng.choice((b"Jos\xe9 Garc\xeda", b"caf\xe9", b"\xff\xfe", b"\xc3\x28"))
    return encode(event)[:-1] + b',"customerName":"' + bad + b'"}'


def _empty_line(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    return rng.choice((b"", b" ", b"   ", b" \t "))


def _invalid_json(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    line = encode(event)
    variant = rng.randrange(4)
    if variant == 0:
        return _truncated(rng, line)
    if variant == 1:
        return line + b"}"  # trailing garbage
    if variant == 2:
        return line + line  # two objects glued together: a lost newline
    return repr(event).encode()  # a Python dict printed instead of serialised: single quotes


def _truncated(rng: random.Random, line: bytes) -> bytes:
    """A proper prefix of the object (never complete JSON), cut on a character boundary so it stays UTF-8."""
    cut = rng.randrange(1, len(line) - 1)
    while 0x80 <= line[cut] < 0xC0:  # a UTF-8 continuation byte: back up to where the character starts
        cut -= 1
    return line[:cut]


def _not_an_object(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    variant = rng.randrange(4)
    if variant == 0:
        return b"[" + encode(event) + b"]"
    if variant == 1:
        return encode(event["type"])
    if variant == 2:
        return str(event_ms).encode()
    return b"null"


def _missing_required_field(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    field = rng.choice(_required_fields(event))
    variant = rng.randrange(3)
    if variant == 0:
        del event[field]
    else:
        event[field] = None if variant == 1 else ""
    return encode(event)


def _invalid_field_type(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    field = rng.choice(_required_fields(event))
    value = event[field]
    if field == "eventId":
        event[field] = rng.randrange(1, 10**9)
    elif field == "eventTime":
        event[field] = [value] if rng.random() < 0.5 else {"$date": value}
    elif field == "type":
        event[field] = {"name": value}
    elif field == "appId":
        event[field] = rng.randrange(1, 10**6)
    else:
        event[field] = [value]
    return encode(event)


def _required_fields(event: Event) -> tuple[str, ...]:
    if event["kind"] == "Session":
        return REQUIRED_FIELDS + SESSION_REQUIRED_FIELDS
    return REQUIRED_FIELDS


def _unknown_kind(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    event["kind"] = rng.choice(UNKNOWN_KINDS)
    return encode(event)


def _invalid_event_time(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    naive = iso_utc(event_ms)[:-1]  # the right instant, but without ``Z``: ambiguous, so invalid
    event["eventTime"] = rng.choice(
        (
            naive,
            naive[:10],  # a date only
            f"{datetime(1970, 1, 1) + timedelta(milliseconds=event_ms):%d/%m/%Y %H:%M:%S}",
            "not a timestamp",
            naive[:5] + "13-45" + naive[10:] + "Z",  # month 13, day 45
            event_ms + 0.5,  # epoch milliseconds, but not integral
            -event_ms,  # epoch milliseconds, but negative
        )
    )
    return encode(event)


def _event_time_out_of_range(rng: random.Random, event: Event, event_ms: int, hour_ms: int) -> bytes:
    # Well clear of the limits (366 days before the arrival hour, 24 hours after it), never near them.
    far_past = hour_ms - (400 + rng.randrange(3_000)) * DAY_MS
    far_future = hour_ms + HOUR_MS + (2 + rng.randrange(400)) * DAY_MS
    epoch_seconds = event_ms // 1000  # a producer sending seconds where milliseconds are due: 1970
    choices: list[str | int] = [iso_utc(far_past), iso_with_offset(far_future, 120, "+02:00")]
    if far_past >= 0:  # a negative number would be an invalid eventTime, not an out-of-range one
        choices.append(far_past)
    if epoch_seconds < hour_ms - 400 * DAY_MS:
        choices.append(epoch_seconds)
    event["eventTime"] = rng.choice(choices)
    return encode(event)


_BUILDERS: dict[str, FaultBuilder] = {
    "invalid_utf8": _invalid_utf8,
    "empty_line": _empty_line,
    "invalid_json": _invalid_json,
    "not_an_object": _not_an_object,
    "missing_required_field": _missing_required_field,
    "invalid_field_type": _invalid_field_type,
    "unknown_kind": _unknown_kind,
    "invalid_event_time": _invalid_event_time,
    "event_time_out_of_range": _event_time_out_of_range,
}
assert tuple(_BUILDERS) == REASON_CODES  # one builder per code, in precedence order
