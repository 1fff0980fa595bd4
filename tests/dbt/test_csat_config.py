"""Which custom metric is CSAT is configuration (var csat_metric_keys), end to end on DuckDB.

GIVEN a warehouse with built marts (tests/conftest.py `marts_warehouse`, a private copy), whose apps report their CSAT
as custom metric key `CSAT`,
WHEN fct_sessions is rebuilt with the key configured in lower case, then with another key for one organization,
THEN in lower case every session keeps its CSAT (the key matches without regard to case); with another key for one
organization, that organization's sessions have none and every other organization's keep theirs.
(The unit test fct_sessions_takes_each_apps_configured_csat_key_without_regard_to_case covers per-app keys.)
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.dbt.project_copy import PROJECT, dbt
from tests.share.support import copy_warehouse


def csat_by_session(home: Path) -> dict[tuple[str, str], float | None]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select organization_id, session_id, csat_score from marts.fct_sessions").fetchall()
    return {(org, session): csat for org, session, csat in rows}


def rebuild_sessions(home: Path, keys: list[dict]) -> None:
    result = dbt(PROJECT, home, "run", "--select", "fct_sessions", "--full-refresh", "--target-path",
                 str(home / "target"), "--vars", json.dumps({"csat_metric_keys": keys}))  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.timeout(300)
def test_the_configured_csat_key_matches_without_case_and_per_organization(tmp_path, marts_warehouse) -> None:
    home = tmp_path / "home"
    copy_warehouse(marts_warehouse, home)
    built = csat_by_session(home)
    rated = {org for (org, _), csat in built.items() if csat is not None}
    assert len(rated) >= 2, "the generated data should have CSATs in two organizations at least"

    rebuild_sessions(home, [{"metric_key": "csat"}])
    assert csat_by_session(home) == built

    other = sorted(rated)[0]
    rebuild_sessions(home, [{"metric_key": "CSAT"}, {"metric_key": "satisfaction", "organization_id": other}])
    rebuilt = csat_by_session(home)
    assert rebuilt == {key: (None if key[0] == other else csat) for key, csat in built.items()}
