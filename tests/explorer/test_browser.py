"""The Activity Explorer in a real browser inside the real Airflow UI.

``airflow standalone`` (as ``eventpipe up`` starts it, plugins folder included) serves marts that
``event_pipeline`` built; headless Chromium (Debian's package, driven by Playwright) signs in through
Airflow's login page, opens the Activity Explorer from the nav, applies a filter and a sort, and the
rows it shows are checked against the marts; then a session's events, and its link to the DAG run
that loaded them. Screenshots go to test-artifacts/ (gitignored). With EVENTPIPE_UPDATE_SCREENSHOT=1
the main one is also copied to docs/img/activity-explorer.png, the README's picture.

Without /usr/bin/chromium this test fails (``make test`` installs it): it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from urllib.parse import unquote

import pytest

from eventpipe.local import up

from .conftest import sql
from .ui_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, require_chromium, sign_in, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # airflow and dbt: by the marts fixture (tests/conftest.py)


def test_api_requires_an_airflow_login(airflow):
    base_url, password = airflow
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{base_url}/explorer/api/range", timeout=30)
    assert denied.value.code == 401
    token = up.access_token(base_url, "admin", password)
    request = urllib.request.Request(f"{base_url}/explorer/api/range", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["sessions"] > 0
    # the plugin registered its app and its nav entry
    request = urllib.request.Request(f"{base_url}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        plugin = next(p for p in json.load(response)["plugins"] if p["name"] == "activity_explorer")
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/explorer"
    assert plugin["external_views"][0]["url_route"] == "activity-explorer"


def shown_rows(frame) -> list[dict[str, str]]:
    rows = []
    for row in frame.locator("[data-testid=journeys] tbody tr[data-journey-id]").all():
        cells = {cell.get_attribute("data-column"): cell.inner_text() for cell in row.locator("td").all()}
        rows.append(cells)
    return rows


REMOVE = "\u00d7"  # the chip's remove button


def chip_texts(frame) -> list[str]:
    return [chip.rstrip(REMOVE).strip() for chip in frame.locator("[data-testid=filter-chip]").all_inner_texts()]


def test_filter_sort_and_session_in_chromium(airflow, warehouse_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    base_url, password = airflow
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            # Sign in through Airflow's own login page, then open the explorer from the nav.
            sign_in(page, base_url, password)
            page.get_by_role("link", name="Activity Explorer").click()
            started = time.monotonic()
            page.wait_for_url("**/plugin/activity-explorer**")
            frame = page.frame_locator("iframe[title='Activity Explorer']")
            ready = wait_ready(frame, None)
            load_seconds = time.monotonic() - started

            # Default: the last 24 hours of data, shown in the range inputs; charts drawn.
            assert frame.locator("[data-testid=range-start]").input_value()
            assert frame.locator("[data-testid=chart-time] svg rect").count() > 0
            assert frame.locator("[data-testid=chart-services] svg rect").count() > 0

            # All time, then the filter "Status equals closed" and a sort on Actions (descending).
            frame.locator("[data-testid=range-all]").click()
            ready = wait_ready(frame, ready)
            frame.locator("[data-testid=filter-column]").select_option("status")
            frame.locator("[data-testid=filter-op]").select_option("equals")
            frame.locator("[data-testid=filter-value]").fill("closed")
            frame.locator("[data-testid=filter-add]").click()
            ready = wait_ready(frame, ready)
            assert frame.locator("[data-testid=filter-chip]").inner_text().startswith("Status equals closed")
            # a comparison on a number column: Events between 3 and 1000 (both ends included)
            frame.locator("[data-testid=filter-column]").select_option("events")
            frame.locator("[data-testid=filter-op]").select_option("between")
            frame.locator("[data-testid=filter-value]").fill("3, 1000")
            frame.locator("[data-testid=filter-add]").click()
            ready = wait_ready(frame, ready)
            frame.locator("[data-testid=page-size]").select_option("25")
            ready = wait_ready(frame, ready)
            frame.locator("[data-testid=sort-actions]").click()  # ascending
            ready = wait_ready(frame, ready)
            frame.locator("[data-testid=sort-actions]").click()  # descending
            ready = wait_ready(frame, ready)

            expected = sql(
                warehouse_path,
                "SELECT session_id, status, action_runs, action_errors, messages_sent + messages_received"
                " FROM marts.fct_sessions WHERE status = 'closed' AND event_count BETWEEN 3 AND 1000"
                " ORDER BY action_runs DESC NULLS LAST, session_id, organization_id LIMIT 25",
            )
            total = sql(
                warehouse_path,
                "SELECT count(*) FROM marts.fct_sessions WHERE status = 'closed' AND event_count BETWEEN 3 AND 1000",
            )[0][0]
            everything = sql(warehouse_path, "SELECT count(*) FROM marts.fct_sessions")[0][0]
            assert 0 < total < everything
            rows = shown_rows(frame)
            shown = [
                (r["journey_id"], r["status"], int(r["actions"]), int(r["action_errors"]), int(r["messages"]))
                for r in rows
            ]
            assert shown == [tuple(row) for row in expected]
            summary = frame.locator("[data-testid=summary]").inner_text()
            assert summary.startswith(f"{total} journeys")
            chips = chip_texts(frame)
            assert chips == [
                "Status equals closed",
                "Events is between (inclusive) 3 and 1000",
            ]
            # The view is in the Airflow page's own URL (not only the frame's): the address bar is the link.
            page.wait_for_url(lambda url: "#" in url, timeout=10_000)
            view_url = page.url
            assert "/plugin/activity-explorer/explorer/#" in view_url, view_url
            assert frame.locator("[data-testid=share-link]").get_attribute("href") == view_url
            state = json.loads(unquote(view_url.split("#", 1)[1]))
            assert state["sort"] == [{"column": "actions", "direction": "desc"}] and state["page_size"] == 25
            assert state["range"] == {} and len(state["filters"]) == 2 and state["session"] is None
            ARTIFACTS.mkdir(exist_ok=True)
            screenshot = ARTIFACTS / "activity-explorer.png"
            page.screenshot(path=str(screenshot))
            if os.environ.get("EVENTPIPE_UPDATE_SCREENSHOT") == "1":
                (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(screenshot, REPO / "docs" / "img" / "activity-explorer.png")

            # One session: its events in time order, and the DAG run that loaded them.
            # A session is (organization, journey id): the row and the link carry both.
            first_row = frame.locator("[data-journey-id]").first
            journey_id, organization = (
                first_row.get_attribute("data-journey-id"),
                first_row.get_attribute("data-organization"),
            )
            assert journey_id == rows[0]["journey_id"] and organization
            first_row.locator("[data-testid=open-session]").click()
            ready = wait_ready(frame, ready)
            assert frame.locator("[data-testid=session-id]").inner_text() == journey_id
            page.wait_for_url(lambda url: url != view_url, timeout=10_000)
            session_url = page.url
            assert json.loads(unquote(session_url.split("#", 1)[1]))["session"] == {
                "organization": organization,
                "journey_id": journey_id,
            }
            # The browser's Back returns to the filtered, sorted list; Forward to the session again.
            page.evaluate("history.back()")  # what the browser's Back button does
            ready = wait_ready(frame, ready)
            page.wait_for_url(lambda url: url == view_url, timeout=10_000)
            assert frame.locator("[data-testid=list-view]").is_visible()
            assert shown_rows(frame) == rows
            page.evaluate("history.forward()")
            ready = wait_ready(frame, ready)
            page.wait_for_url(lambda url: url == session_url, timeout=10_000)
            assert frame.locator("[data-testid=session-id]").inner_text() == journey_id
            events = sql(
                warehouse_path,
                "SELECT event_id FROM marts.fct_session_events WHERE organization_id = ? AND session_id = ?"
                " ORDER BY event_time, event_id",
                [organization, journey_id],
            )
            shown_events = frame.locator("[data-testid=session-events] tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.eventId)"
            )
            assert shown_events == [event_id for (event_id,) in events]
            runs = sql(
                warehouse_path,
                "SELECT DISTINCT b.run_id FROM marts.fct_session_events e"
                " JOIN ops.load_batch b ON e._batch_id = b.batch_id WHERE e.organization_id = ? AND e.session_id = ?",
                [organization, journey_id],
            )
            link = frame.locator("[data-testid=run-link]").first
            href = link.get_attribute("href")
            assert href.startswith("../dags/event_pipeline/runs/")
            run_id = unquote(href.rsplit("/", 1)[1])
            assert run_id in {r for (r,) in runs}
            page.screenshot(path=str(ARTIFACTS / "activity-explorer-session.png"))

            # The link opens that run in the Airflow UI (not inside the iframe).
            link.click()
            page.wait_for_url("**/dags/event_pipeline/runs/**", timeout=30_000)
            assert unquote(page.url.rsplit("/runs/", 1)[1]) == run_id
            page.get_by_text(run_id).first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "activity-explorer-run.png"))

            # Back from the DAG run: the explorer comes back with the open session, then its list with the
            # filters, sort and page size kept (the Airflow page's URL rebuilt the frame's state).
            page.evaluate("history.back()")
            page.wait_for_url(lambda url: url == session_url, timeout=30_000)
            frame = page.frame_locator("iframe[title='Activity Explorer']")
            ready = wait_ready(frame, None)
            frame.locator("[data-testid=session-id]").wait_for(state="visible", timeout=30_000)
            assert frame.locator("[data-testid=session-id]").inner_text() == journey_id
            frame.locator("[data-testid=back]").click()
            ready = wait_ready(frame, ready)
            assert shown_rows(frame) == rows
            assert frame.locator("[data-testid=summary]").inner_text() == summary
            page.wait_for_url(lambda url: url == view_url, timeout=10_000)

            # The copied link, opened in a new tab (same signed-in browser), shows the same view.
            copied = frame.locator("[data-testid=share-link]").get_attribute("href")
            assert copied == view_url
            other = context.new_page()  # a new tab of the same signed-in browser
            other.goto(copied)
            other_frame = other.frame_locator("iframe[title='Activity Explorer']")
            wait_ready(other_frame, None)
            other_frame.locator("[data-testid=journeys] tbody tr[data-journey-id]").first.wait_for(timeout=30_000)
            assert shown_rows(other_frame) == rows
            assert other_frame.locator("[data-testid=summary]").inner_text() == summary
            assert chip_texts(other_frame) == chips
            other.screenshot(path=str(ARTIFACTS / "activity-explorer-shared-link.png"))
            assert not errors, errors
            (ARTIFACTS / "activity-explorer-timing.txt").write_text(f"explorer ready after {load_seconds:.2f}s\n")
            print(f"explorer ready {load_seconds:.2f}s after the nav click")
        finally:
            browser.close()
