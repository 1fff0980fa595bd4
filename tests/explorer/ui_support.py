"""What the browser tests share: one ``airflow standalone`` on the explorer's marts, Debian's Chromium,
Airflow's login page, screenshots (test-artifacts/, and docs/img/ with EVENTPIPE_UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventpipe.local import up

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def standalone(marts_home: Path) -> Iterator[tuple[str, str]]:
    """``airflow standalone`` on the marts' EVENTPIPE_HOME: (base URL, admin password). The scheduler creates no
    runs of its own (USE_JOB_SCHEDULE=False): only what a test triggers or clears runs and writes the warehouse."""
    saved = dict(os.environ)
    os.environ["EVENTPIPE_HOME"] = str(marts_home)
    os.environ.pop("EVENTPIPE_LANDING", None)
    os.environ["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    # Its log servers on free ports too (not 8793 / 8794): another Airflow may be running beside this test.
    os.environ["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    os.environ["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    port = free_port()
    base_url = f"http://localhost:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    process = up.start_standalone(port, log_path=ARTIFACTS / "activity-explorer-standalone.log")
    try:
        up.wait_healthy(base_url, process)
        yield base_url, up.admin_password()
    finally:
        up.stop(process)
        os.environ.clear()
        os.environ.update(saved)


def require_chromium() -> None:
    """Fail, never skip, without the browser (``make test`` installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")


def sign_in(page, base_url: str, password: str) -> None:
    """Through Airflow's own login page, as a person does."""
    page.goto(f"{base_url}/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)


def screenshot(target, name: str, readme: str | None = None) -> Path:
    """Save ``target`` (a page or a locator) as test-artifacts/<name>.png; with EVENTPIPE_UPDATE_SCREENSHOT=1
    also as docs/img/<readme>.png, a README picture."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    target.screenshot(path=str(path))
    if readme and os.environ.get("EVENTPIPE_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, REPO / "docs" / "img" / f"{readme}.png")
    return path


def wait_ready(frame, previous: str | None) -> str:
    """Wait until the explorer finished rendering after ``previous`` (its body's data-ready counter)."""
    locator = frame.locator("body[data-ready]")
    locator.wait_for(timeout=30_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = locator.get_attribute("data-ready")
        if value != previous:
            assert value != "error", frame.locator("[data-testid=error]").inner_text()
            return value
        time.sleep(0.05)
    raise TimeoutError("the explorer did not re-render")
