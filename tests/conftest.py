"""Shared fixtures: every test gets its own EVENTPIPE_HOME, so nothing leaks between tests."""

from __future__ import annotations

import gzip
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
