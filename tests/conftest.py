"""Shared fixtures: every test gets its own EVENTPIPE_HOME, so nothing leaks between tests."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest


@pytest.fixture
def eventpipe_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.delenv("EVENTPIPE_LANDING", raising=False)
    return home


def write_landing_file(landing: Path, partition: str, name: str, lines: list[bytes], newline_at_end=True) -> Path:
    """Write ``lines`` as one landing file under ``landing/<partition>/<name>`` (gzip when the name says so)."""
    path = landing / partition / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


@pytest.fixture(scope="session")
def marts_warehouse(tmp_path_factory) -> Path:
    """A small warehouse with real marts (3 orgs, 2 hours: generate -> load -> dbt build), built once
    per session for the share's tests. Read-only: copy it (tests.share_support.copy_warehouse) to write."""
    from tests.share_support import build_marts_warehouse

    return build_marts_warehouse(tmp_path_factory.mktemp("marts"))


# The distributed topology (tests/distributed: Postgres, Redis, Celery workers) runs with `make test-distributed`
# (pytest --distributed tests/distributed), not with the plain suite, which needs neither Postgres nor Redis.
def pytest_addoption(parser):
    parser.addoption("--distributed", action="store_true", help="collect tests/distributed (needs Postgres, Redis)")


def pytest_configure(config):
    config.addinivalue_line("markers", "distributed: the production topology as native processes (Postgres, Redis)")


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "distributed" and not config.getoption("--distributed"):
        return True
    return None


# ------------------------------------------------------------------------------------------------------------
# Kinds of slow parts (markers registered in pyproject.toml; `make test-fast` deselects them all).
# Marked here: every test of a directory below, and every test that uses one of the fixtures below, directly or
# through another fixture; a test module marks what else it runs itself (`pytestmark`).
# ------------------------------------------------------------------------------------------------------------
KINDS = ("airflow", "dbt", "emulator", "browser")
FIXTURE_KINDS = {
    "marts_warehouse": ("dbt",),  # generate -> load -> dbt build (above)
    "marts_home": ("airflow", "dbt"),  # tests/explorer/conftest.py: `eventpipe run` (event_pipeline, dbt)
    "snowflake": ("emulator",),  # tests/unit/test_snowflake_loader.py: the emulator over HTTP
    "endpoint": ("emulator",),  # tests/unit/test_snowflake_concurrent_load.py
}
# tests/dags: DagBag and dag.test(); tests/e2e: `eventpipe run` (event_pipeline with its dbt tasks) or Airflow itself.
DIRECTORY_KINDS = {"dags": ("airflow",), "dbt": ("dbt",), "e2e": ("airflow", "dbt")}
# Under pytest-xdist (--dist loadgroup), one group runs on one worker: a module's tests stay together (their
# module-scoped fixtures are built once), and every module using one of these session-scoped builds joins its
# group, so each is built once in the whole run.
SHARED_BUILDS = ("marts_home", "marts_warehouse")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    module_group: dict[Path, str] = {}
    for item in items:
        kinds = set(DIRECTORY_KINDS.get(item.path.parent.name, ()))
        for name in item.fixturenames:
            kinds.update(FIXTURE_KINDS.get(name, ()))
        for kind in sorted(kinds):
            item.add_marker(kind)
        shared = next((name for name in SHARED_BUILDS if name in item.fixturenames), None)
        if shared:
            module_group.setdefault(item.path, shared)
    if not config.pluginmanager.hasplugin("xdist"):
        return
    groups = {}
    for item in items:
        group = module_group.get(item.path) or str(item.path.relative_to(config.rootpath))
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item] = group
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # On each worker (the controller schedules from the workers' collections), the heaviest groups first:
        # with --no-loadscope-reorder workers take groups in this order, so that no Airflow run is left to start
        # last; within a group, the collection order.
        weight: dict[str, int] = {}
        for item in items:
            kinds = {mark.name for mark in item.iter_markers() if mark.name in KIND_WEIGHTS}
            weight[groups[item]] = max(weight.get(groups[item], 0), sum(KIND_WEIGHTS[kind] for kind in kinds))
        items.sort(key=lambda item: -weight[groups[item]])


# How much a kind costs, roughly: an Airflow run (and its dbt tasks) takes minutes, a dbt build tens of seconds.
KIND_WEIGHTS = {"airflow": 4, "browser": 2, "dbt": 2, "slow": 1, "emulator": 1}
