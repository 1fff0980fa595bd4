"""``eventpipe run`` (and ``eventpipe demo``) with no scheduler up: a range caught up through the continuous DAGs in
process, each run a real DAG run; raw, every destination and the marts hold exactly what landed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import assert_caught_up, eventpipe

pytestmark = pytest.mark.slow


def test_a_range_caught_up_through_the_continuous_dags(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EVENTPIPE_LOAD_MAX_FILES", "3")  # 8 files: the load runs again until nothing is left
    start = hour_floor(utc_now()) - timedelta(hours=3)  # recent: GA4 takes the analytics events
    truth = generate(landing=str(home / "landing"), start=start, hours=2, orgs=2, sessions_per_hour=4, seed=31,
                     files_per_hour=4)  # fmt: skip
    iso = "%Y-%m-%dT%H:%M"
    run = eventpipe(home, "run", "--start", f"{start:{iso}}", "--end", f"{start + timedelta(hours=2):{iso}}")
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    said = " ".join(run.stderr.split())
    assert "through the continuous DAGs, in this process (no scheduler is up)" in said, run.stderr[-3000:]
    runs = [line.split()[2] for line in run.stderr.splitlines() if line.strip().endswith("success")]
    assert runs[:3] == ["load_events"] * 3 and runs[3:] == ["deliver_events", "transform", "hourly_checks"], runs

    assert_caught_up(home, truth.lines)
    assert (home / "readers" / "read_snapshot.duckdb").exists()  # transform published what readers read
