"""Shared fixtures: every test gets its own EVENTPIPE_HOME, so nothing leaks between tests."""

from __future__ import annotations

import fcntl
import gzip
import os
import tempfile
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
    per run for the share's tests, also under pytest-xdist: the first worker to need it builds it in the run's
    base directory, under a lock, and the others wait for it. Read-only: copy it
    (tests.share.support.copy_warehouse) to write."""
    from tests.share.support import build_marts_warehouse

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's base directory is popen-gwN in the run's
    built = root / "marts_warehouse.path"
    with open(root / "marts_warehouse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            built.write_text(str(build_marts_warehouse(Path(tempfile.mkdtemp(prefix="marts", dir=root)))))
    return Path(built.read_text())


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
# Marked here: every test of a directory below, every DAG's test module, and every test that uses one of the fixtures
# below, directly or through another fixture; a test module marks what else it runs itself (`pytestmark`).
# ------------------------------------------------------------------------------------------------------------
FIXTURE_KINDS = {
    "marts_warehouse": ("dbt",),  # generate -> load -> dbt build (above)
    "marts_home": ("airflow", "dbt"),  # tests/explorer/conftest.py: `eventpipe run` (event_pipeline, dbt)
    "snowflake": ("emulator",),  # tests/warehouse/test_snowflake_loader.py: the emulator over HTTP
    "endpoint": ("emulator",),  # tests/warehouse/test_snowflake_concurrent_load.py
}
# tests/dags: DagBag and dag.test(); tests/e2e: `eventpipe run` (event_pipeline with its dbt tasks) or Airflow itself.
DIRECTORY_KINDS = {"dags": ("airflow",), "dbt": ("dbt",), "e2e": ("airflow", "dbt")}
# A DAG's own tests sit with the stage it runs (tests/share/test_share_sync_dag.py, tests/deliver/
# test_redeliver_dag.py) and are named test_<dag>_dag.py: they run it through dag.test().
DAG_MODULE_SUFFIX = "_dag.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        kinds = set(DIRECTORY_KINDS.get(item.path.parent.name, ()))
        if item.path.name.endswith(DAG_MODULE_SUFFIX):
            kinds.add("airflow")
        for name in item.fixturenames:
            kinds.update(FIXTURE_KINDS.get(name, ()))
        for kind in sorted(kinds):
            item.add_marker(kind)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # On each worker (the controller schedules from the workers' collections), the heaviest groups first:
        # with --no-loadscope-reorder workers take groups in this order, so that no Airflow run is left to start
        # last; within a group, the collection order.
        weight: dict[str, int] = {}
        for item in items:
            kinds = {mark.name for mark in item.iter_markers() if mark.name in KIND_WEIGHTS}
            group = xdist_group(item.nodeid)
            weight[group] = max(weight.get(group, 0), sum(KIND_WEIGHTS[kind] for kind in kinds))
        items.sort(key=lambda item: -weight[xdist_group(item.nodeid)])


# Under pytest-xdist one group runs on one worker: a module's tests stay together (their module-scoped fixtures are
# built once), and so do a directory's whose conftest.py builds something for the whole session: the explorer's
# marts (marts_home), which test_api's busy-warehouse case and the browser's Airflow must not share with another
# worker at the same time. (xdist's own --dist loadgroup does not group under pytest 9.2: it renames
# item._nodeid, which pytest no longer reads.)
SHARED_DIRECTORIES = ("tests/explorer/",)


def xdist_group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((directory for directory in SHARED_DIRECTORIES if path.startswith(directory)), path)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return GroupScheduling(config, log)


# How much a kind costs, roughly: an Airflow run (and its dbt tasks) takes minutes, a dbt build tens of seconds.
KIND_WEIGHTS = {"airflow": 4, "browser": 2, "dbt": 2, "slow": 1, "emulator": 1}
