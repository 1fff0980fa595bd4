"""Quarantine replay: lines quarantined by a validator bug load once the bug is fixed, the ledger and
reconcile still balance, lines that are still bad stay quarantined, and a second replay does nothing."""

from __future__ import annotations

import pytest

from eventpipe import warehouse
from eventpipe.ingest import reconcile, replay, validate
from eventpipe.sql import load_sql
from tests.ingest.test_validate import HOUR, event, line, load_lines

# "The bug": a validator that does not know the Audit kind yet.
BUGGY_VALIDATION = load_sql("duckdb", "validate_chunk").replace(
    "when v[4] not in ('Session', 'Audit', 'Platform')", "when v[4] not in ('Session', 'Platform')"
)


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        yield connection


@pytest.fixture
def loaded_with_the_bug(con, tmp_path, monkeypatch):
    assert load_sql("duckdb", "validate_chunk") != BUGGY_VALIDATION

    def buggy_load_sql(engine: str, name: str) -> str:
        return BUGGY_VALIDATION if name == "validate_chunk" else load_sql(engine, name)

    monkeypatch.setattr(validate, "load_sql", buggy_load_sql)
    lines = [
        line(event(eventId="a-1")),
        line(event(eventId="a-2")),
        line(event(eventId="a-1")),  # a re-sent copy: a duplicate once the kind is known
        line(event(eventId="p-1", kind="Platform", type="service_error", service="x")),
        b"{not json",
    ]
    first = load_lines(con, tmp_path, lines)
    monkeypatch.undo()  # "the fix"
    assert (first.loaded, first.duplicates, first.quarantined) == (1, 0, 4)
    assert first.quarantined_by_reason == {"unknown_kind": 3, "invalid_json": 1}
    return str(tmp_path / "landing")


def test_replay_loads_what_the_fix_lets_through_and_reconcile_still_balances(con, loaded_with_the_bug):
    result = replay.replay_quarantine(con, reason="unknown_kind", run_id="fix-1")
    assert (result.replayed, result.loaded, result.duplicates, result.still_quarantined) == (3, 2, 1, 0)
    assert result.loaded_by_kind == {"audit": 2}
    ids = {row[0] for row in con.execute("SELECT event_id FROM raw.audit_event").fetchall()}
    assert ids == {"a-1", "a-2"}
    assert con.execute("SELECT loaded, duplicates, quarantined FROM ops.loaded_file").fetchone() == (3, 1, 1)
    replayed = con.execute(
        "SELECT count(*) FROM raw.quarantined_event WHERE replayed_batch_id = ?", [result.batch_id]
    ).fetchone()[0]
    assert replayed == 3  # the rows stay, as the record of what was quarantined
    checked = reconcile.reconcile_interval(con, loaded_with_the_bug, HOUR)
    assert checked.balanced, checked.problems
    assert (checked.rows_in_raw, checked.duplicates, checked.rows_in_quarantine) == (3, 1, 1)


def test_lines_still_bad_stay_quarantined_and_a_second_replay_does_nothing(con, loaded_with_the_bug):
    first = replay.replay_quarantine(con)  # every reason: the invalid JSON line is tried too
    assert (first.replayed, first.loaded, first.still_quarantined) == (4, 2, 1)
    assert first.still_quarantined_by_reason == {"invalid_json": 1}
    again = replay.replay_quarantine(con)
    assert (again.replayed, again.loaded, again.duplicates) == (1, 0, 0)
    assert con.execute("SELECT count(*) FROM raw.audit_event").fetchone()[0] == 2
    assert reconcile.reconcile_interval(con, loaded_with_the_bug, HOUR).balanced


def test_a_failed_replay_changes_nothing(con, loaded_with_the_bug, monkeypatch):
    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(validate, "drop_staging", killed)
    with pytest.raises(RuntimeError):
        replay.replay_quarantine(con)
    assert con.execute("SELECT count(*) FROM raw.audit_event").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM raw.quarantined_event WHERE replayed_batch_id IS NOT NULL").fetchone() == (
        0,
    )
    assert con.execute("SELECT quarantined FROM ops.loaded_file").fetchone() == (4,)


def test_replay_retries_the_new_codes_and_never_an_over_cap_prefix(con, tmp_path, monkeypatch):
    import json as _json

    monkeypatch.setenv("EVENTPIPE_MAX_LINE_BYTES", "1024")
    # Over the cap, but its 4 KiB prefix is a whole valid event followed by spaces: replaying the prefix
    # would load an event whose line was never read whole. It must stay quarantined, untried.
    padded = line(event(eventId="long-1")) + b" " * 5000
    deep = line(event(eventId="deep-1", extra=_json.loads("[" * 80 + "]" * 80)))
    hostile_org = line(event(eventId="org-bad", organizationId="x/../globex"))
    first = load_lines(con, tmp_path, [padded, deep, hostile_org, line(event(eventId="ok"))])
    assert first.quarantined_by_reason == {"line_too_long": 1, "too_deeply_nested": 1, "invalid_organization_id": 1}

    result = replay.replay_quarantine(con)
    assert (result.replayed, result.loaded) == (2, 0)  # the over-cap line is not a candidate
    assert result.still_quarantined_by_reason == {"too_deeply_nested": 1, "invalid_organization_id": 1}
    assert con.execute("SELECT event_id FROM raw.audit_event").fetchall() == [("ok",)]
    assert replay.replay_quarantine(con, reason="line_too_long").replayed == 0
    assert reconcile.reconcile_interval(con, str(tmp_path / "landing"), HOUR).balanced
