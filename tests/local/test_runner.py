"""The runner's small pieces: hourly intervals and when the dbt manifest must be rebuilt."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from eventpipe import settings
from eventpipe.local import runner
from eventpipe.orchestrate import dbt_config


def test_hourly_intervals_cover_start_to_end_exclusive():
    assert runner.hourly_intervals(datetime(2026, 1, 1, 0), datetime(2026, 1, 1, 2)) == [
        datetime(2026, 1, 1, 0),
        datetime(2026, 1, 1, 1),
    ]
    # A partial last hour is included; an aware end is converted to UTC.
    assert runner.hourly_intervals(datetime(2026, 1, 1, 0, 30), datetime(2026, 1, 1, 2, 30, tzinfo=UTC))[-1] == (
        datetime(2026, 1, 1, 2)
    )
    assert runner.hourly_intervals(datetime(2026, 1, 1, 3), datetime(2026, 1, 1, 3)) == []


def test_manifest_is_stale_when_missing_or_older_than_a_model(tmp_path, monkeypatch):
    project = tmp_path / "dbt_project"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    model, manifest = project / "models" / "m.sql", project / "target" / "manifest.json"
    monkeypatch.setattr(settings, "dbt_project_dir", lambda: project)
    monkeypatch.setattr(dbt_config, "MANIFEST_PATH", manifest)

    model.write_text("select 1")
    assert not runner.manifest_is_current()  # missing

    manifest.write_text("{}")
    os.utime(model, (1_000, 1_000))
    assert runner.manifest_is_current()

    os.utime(model, None)  # edited after the manifest was built
    os.utime(manifest, (2_000, 2_000))
    assert not runner.manifest_is_current()


@pytest.mark.emulator
def test_the_emulator_target_hides_real_snowflake_credentials(monkeypatch, eventpipe_home):
    """A job's own Connection wins over the emulator's snowflake_default, and SNOWFLAKE_* variables are the fallback:
    under the emulator target they must be gone, or a run meant for the emulator could reach a real account."""
    from eventpipe.local import targets

    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "real-account")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "real-secret")
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_LOADER", '{"conn_type": "snowflake", "login": "real-loader"}')
    with targets.activated("snowflake-emulator"):
        from eventpipe.warehouse.connections import LOADER, credentials_in_env, resolve_source

        assert not credentials_in_env()
        assert "SNOWFLAKE_ACCOUNT" not in os.environ and os.environ["EVENTPIPE_TARGET"] == "snowflake"
        assert resolve_source(LOADER) == "snowflake_default"  # the emulator's
    assert (
        os.environ["SNOWFLAKE_ACCOUNT"] == "real-account"
        and "real-loader" in os.environ["AIRFLOW_CONN_SNOWFLAKE_LOADER"]
    )


def test_the_embedded_airflow_runs_one_task_at_a_time_only_on_duckdb(tmp_path):
    """A backfill's runs are not counted by max_active_runs, and share_sync runs beside event_pipeline: on the
    embedded DuckDB (one writer process) the default pool Airflow creates has one slot; on Snowflake, Airflow's."""
    from eventpipe.orchestrate import airflow_env

    base = {"EVENTPIPE_HOME": str(tmp_path)}
    assert airflow_env.airflow_environ(base)["AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT"] == "1"
    assert "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT" not in airflow_env.airflow_environ(
        base | {"EVENTPIPE_TARGET": "snowflake"}
    )


def test_hours_that_have_not_ended_are_refused_before_airflow_starts(monkeypatch):
    started = []
    monkeypatch.setattr(runner, "prepare", lambda: started.append(True))
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        runner.run_intervals(now.replace(minute=0, second=0, microsecond=0), now.replace(minute=59))
    except ValueError as error:
        assert "have not ended yet" in str(error)
    else:
        raise AssertionError("the current hour was accepted")
