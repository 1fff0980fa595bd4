"""Deduplication against existing history, property-based, through the real loader (here DuckDB; the same property
on the Snowflake emulator: tests/ingest/test_dedup_history_snowflake.py; its parts: tests/ingest/history_support.py).

Hypothesis writes a sequence of loads into ONE warehouse: each load lands a few new files in an arrival hour (one of
a few hours, in any order, an hour loaded before included) and runs ``load.load_interval`` for it. A small universe of
event ids is re-sent across files, hours and loads, possibly as another kind, each copy with the same eventTime
instant as the first (the contract: a re-send is the same event), written in any of the contract's formats (Z,
another offset as +hh:mm, +hhmm or +hh, a space for the T, no fraction, milli-, micro- or nine-digit fractions,
epoch milliseconds as a number, a string or a whole float). Event times fall on days from a year back to the next
day, so a load has several event-time windows (README, "Dedup"), some instants at midnight, the last microsecond of
a day or finer than a millisecond; all within the validator's bounds for every hour they land in. Some lines are
invalid, some carrying a universe id. Files of a later load may sort before an earlier load's files of the same hour,
and groups are small (several commits a load). Every run the same inputs (derandomize).

After every load, on the whole warehouse:

- every event id is kept exactly once across raw.session_event / audit_event / platform_event, and the kept row
  is its first valid copy in load order, then file (URL), then line order, in the table of that copy's kind, with
  its organization and event time;
- every later copy is a duplicate in its file's ``ops.loaded_file`` row: lines = loaded + duplicates + quarantined
  with each figure as the model says; invalid lines are in raw.quarantined_event with their reason;
- ``reconcile_interval`` balances for every hour loaded so far;
- ``ops.load_commit`` is numbered 1..n, densely, in commit order (the loads' ``commits`` in load order are 1..n, the
  sequence's last value is n), each commit's totals are its ledger rows', and every raw row, quarantined line and
  ledger row carries the commit that loaded it.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings

from eventpipe import warehouse
from eventpipe.ingest import load
from tests.ingest.history_support import (
    HOURS,
    INVALID,
    SETTINGS,
    TOTALS,
    File,
    Line,
    Load,
    land,
    run_scenario,
    scenarios,
    summary,
)


@settings(max_examples=80, **SETTINGS)
@given(scenario=scenarios())
def duckdb_histories(tmp_path_factory, monkeypatch, scenario):
    root = tmp_path_factory.mktemp("history")
    with warehouse.connect(root / "wh.duckdb") as con:
        run_scenario([warehouse.as_warehouse(con)], str(root / "landing"), scenario, monkeypatch)
    TOTALS["examples"] += 1


@pytest.mark.slow  # ~30 s: 80 examples of up to five loads each
def test_dedup_against_history_keeps_each_event_once_and_its_first_copy(tmp_path_factory, monkeypatch):
    TOTALS.clear()
    started = time.perf_counter()
    duckdb_histories(tmp_path_factory, monkeypatch)
    print(summary("dedup-history property (duckdb)", time.perf_counter() - started))
    assert TOTALS["duplicates across history"] >= 200 and TOTALS["cross-kind duplicates across history"] >= 100, TOTALS
    assert TOTALS["duplicates within a load"] >= 50 and all(TOTALS[f"invalid:{reason}"] for reason in INVALID)


@pytest.mark.parametrize("resent_time", ["2026-11-27T10:05:00,5Z", "2026-11-27T10:05:00.5z"])
def test_a_resend_written_with_a_lowercase_z_or_a_decimal_comma_is_a_duplicate(tmp_path, resent_time):
    """The same instant as its first copy (10:05:00.5Z), re-serialised in another ISO-8601 form, an hour later."""
    event = {"eventId": "ev-1", "organizationId": "acme", "kind": "Audit", "type": "user_login"}

    def copy(when: str) -> Line:
        return Line(json.dumps(event | {"eventTime": when}).encode(), "ev-1", "Audit")

    landing = str(tmp_path / "landing")
    sent = Load(HOURS[0], [File("a.ndjson", [copy("2026-11-27T10:05:00.5Z")], gzipped=False)])
    again = Load(HOURS[1], [File("b.ndjson", [copy(resent_time)], gzipped=False)])
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        land(landing, sent)
        assert load.load_interval(con, landing, sent.hour).loaded == 1
        land(landing, again)
        result = load.load_interval(con, landing, again.hour)
    assert (result.loaded, result.duplicates, result.quarantined_by_reason) == (0, 1, {})
