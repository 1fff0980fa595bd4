"""Splunk HTTP Event Collector (HEC): the protocol facts the client and the local receiver share.

``eventpipe.deliver.hec.client.HecClient`` delivers App Events to a HEC endpoint;
``eventpipe.devtools.receivers.hec.HecReceiver`` is a protocol-faithful stand-in for local runs and tests. Both
read the codes below from one place so the client's retry / dead-letter decisions and the receiver's answers
cannot drift apart.

This module imports nothing heavy and does no I/O: the submodules are imported by name.
"""

from __future__ import annotations

import re

EVENT_PATHS = ("/services/collector/event", "/services/collector/event/1.0", "/services/collector")
RAW_PATHS = ("/services/collector/raw", "/services/collector/raw/1.0")
ACK_PATHS = ("/services/collector/ack", "/services/collector/ack/1.0")
HEALTH_PATHS = ("/services/collector/health", "/services/collector/health/1.0")

CHANNEL_HEADER = "X-Splunk-Request-Channel"
TOKEN_ENV = "EVENTPIPE_HEC_TOKEN"
REDACTED = "Splunk ****"

# code -> (HTTP status, text), as Splunk documents them.
CODES: dict[int, tuple[int, str]] = {
    0: (200, "Success"),
    1: (403, "Token disabled"),
    2: (401, "Token is required"),
    3: (401, "Invalid authorization"),
    4: (403, "Invalid token"),
    5: (400, "No data"),
    6: (400, "Invalid data format"),
    7: (400, "Incorrect index"),
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
    10: (400, "Data channel is missing"),
    11: (400, "Invalid data channel"),
    12: (400, "Event field is required"),
    13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"),
    15: (400, "Error in handling indexed fields"),
    17: (200, "HEC is healthy"),
}

# Codes that say "this data is bad": retrying the same bytes can never succeed, so the client isolates the
# offending events into a dead-letter record instead (design.md, Deliveries contract).
INVALID_DATA_CODES = frozenset({5, 6, 7, 12, 13, 15})

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_channel(value: str) -> bool:
    """A request channel is a GUID; Splunk answers code 11 to anything else."""
    return bool(_GUID.fullmatch(value))  # fullmatch: no trailing newline
