"""The local receivers tell a test when each record arrived (``on_append``), as they write it: what the
distributed continuous test measures freshness at Splunk, Heap and GA4 by."""

from __future__ import annotations

import json
import time
import urllib.request

from eventpipe.deliver import heap
from eventpipe.devtools.receivers.local import local_receivers


def test_each_accepted_write_is_reported_with_its_receiver_file_and_text(tmp_path, monkeypatch):
    for name in ("HEC", "HEAP", "GA4", "S3"):
        monkeypatch.delenv(f"AIRFLOW_CONN_EVENTPIPE_LOCAL_{name}", raising=False)
    seen: list[tuple[str, str, str, float]] = []
    with local_receivers(tmp_path, on_append=lambda *args: seen.append((*args, time.time()))) as receivers:
        events = [{"identity": "u-1", "event": "csat", "idempotency_key": f"e-{n}", "timestamp": "2026-12-01T10:00:00Z"}
                  for n in range(2)]  # fmt: skip
        body = json.dumps({"app_id": "1234567890", "events": events}).encode()
        request = urllib.request.Request(
            receivers.urls["heap"] + heap.TRACK_PATH, data=body, headers={"Content-Type": "application/json"}
        )
        before = time.time()
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        after = time.time()

    ((receiver, name, text, at),) = seen
    assert (receiver, name) == ("heap", "1234567890")
    assert [json.loads(line)["idempotency_key"] for line in text.splitlines()] == ["e-0", "e-1"]
    assert before <= at <= after
    assert (tmp_path / "received" / "heap" / "1234567890.ndjson").read_text() == text  # the same bytes as written
