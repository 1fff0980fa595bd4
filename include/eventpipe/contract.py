"""The landing contract, in one place: event kinds, table names, quarantine reason codes and id patterns.

The validator (``eventpipe.ingest``, ``sql/duckdb/validate_chunk.sql``), the loader, the share, dbt's tests
(through the same SQL) and the generator (``eventpipe.devtools``) all read these names from here, so the test data
does not own the validator's contract. ``tests/ingest/test_validate.py`` checks that the validator's SQL applies
exactly these reason codes in this order, and README lists them.
"""

from __future__ import annotations

import re
from datetime import timedelta

# An event's ``kind`` as producers write it, and the raw table each kind loads into (schema ``raw``).
KINDS = ("Session", "Audit", "Platform")
RAW_EVENT_TABLES = {"Session": "session_event", "Audit": "audit_event", "Platform": "platform_event"}
SESSION, AUDIT, PLATFORM = KINDS
# What a delivery sends (ops.delivery_part.kind): a kind, or ``analytics``, the Session events Heap and GA4 receive.
ANALYTICS = "analytics"
# The SQL files of a kind are named by its lower-case form: insert_session_event.sql, merge_audit_event.sql.
TABLE_KINDS = ("session", "audit", "platform")
QUARANTINE_TABLE = "quarantined_event"
RAW_TABLES = (*RAW_EVENT_TABLES.values(), QUARANTINE_TABLE)
RAW_SCHEMA = "raw"

# One load interval: an hour of arrival time (the landing folder ``dt=YYYY-MM-DD/hour=HH``).
INTERVAL = timedelta(hours=1)

# Line reason codes, in the validator's precedence: the first that applies is the reason recorded.
LINE_REASON_CODES = (
    "line_too_long",
    "invalid_utf8",
    "empty_line",
    "invalid_json",
    "too_deeply_nested",
    "not_an_object",
    "missing_required_field",
    "invalid_field_type",
    "invalid_organization_id",
    "unknown_kind",
    "invalid_event_time",
    "event_time_out_of_range",
)
# Limits rather than malformed content (a 16 MiB line, deep nesting, a hostile organization id): the generator's
# logs do not contain them; tests/ingest/test_hostile_load.py generates them.
LIMIT_REASON_CODES = ("line_too_long", "too_deeply_nested", "invalid_organization_id")
# A landing file quarantined whole (ops.quarantined_file), when it cannot be read to its end.
FILE_REASON_CODES = ("truncated", "corrupt_compression", "unsupported_compression", "file_missing")

REQUIRED_FIELDS = ("eventId", "organizationId", "eventTime", "kind", "type")
SESSION_REQUIRED_FIELDS = ("appId", "sessionId")

# An organization id: the platform's (UUIDs today), a safe charset, never a quote or a space. What
# validate_chunk.sql accepts (``invalid_organization_id`` otherwise) and what the
# share's consumer config may name.
ORGANIZATION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
