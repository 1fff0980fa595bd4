"""The explorer's URL state round trip, without a browser: the page's own state.js run by Node.

GIVEN a view (filters with every kind of value, sort keys, page, page size, range, an open session),
WHEN it is written to a URL hash and read back, THEN it is the same view; a hash edited by hand or cut
short gives the defaults, never an error; and the Airflow page's path that carries the frame's URL is
the one Airflow 3.3.2 rebuilds the frame from, under any base path.

Without Node (Debian's nodejs, /usr/bin/node) this test fails: it never skips.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

STATE_JS = Path(__file__).resolve().parents[2] / "include" / "eventpipe" / "explorer" / "static" / "state.js"

VIEWS = [
    {
        "filters": [
            {"column": "status", "op": "equals", "value": "closed"},
            {"column": "events", "op": "between", "values": ["3", "1000"]},
            {"column": "started_event", "op": "gt", "value": "2026-11-26T10:30:00"},
            {"column": "journey_id", "op": "contains", "value": '50% off & #1 "quoted" ünïcode'},
            {"column": "csat", "op": "has_no_value"},
        ],
        "sort": [{"column": "actions", "direction": "desc"}, {"column": "app", "direction": "asc"}],
        "page": 3,
        "page_size": 25,
        "range": {"start": "2026-11-26T00:00:00", "end": "2026-11-27T00:00:00"},
        "session": {"organization": "org-1", "journey_id": "a/b?c#d"},
    },
    {
        "filters": [],
        "sort": [{"column": "started_event", "direction": "desc"}],
        "page": 1,
        "page_size": 50,
        "range": {},
        "session": None,
    },
]

DEFAULTS = {
    "filters": [],
    "sort": [{"column": "started_event", "direction": "desc"}],
    "page": 1,
    "page_size": 50,
    "range": None,
    "session": None,
}

SCRIPT = """
const S = require(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {
  roundTrips: input.views.map((view) => {
    const hash = S.toHash(view);
    return { hash, back: S.fromHash(hash), backWithoutMark: S.fromHash(hash.slice(1)) };
  }),
  broken: input.broken.map((hash) => S.fromHash(hash)),
  paths: input.paths.map(([parent, path, search, hash]) => S.airflowPath(parent, path, search, hash)),
};
process.stdout.write(JSON.stringify(out));
"""

BROKEN = [
    "",
    "#",
    "#not-json",
    "#%7B%22filters",  # cut short
    "#%5B1%2C2%5D",  # an array, not an object
    "#null",
    "#" + json.dumps({"page": -2, "page_size": 7, "sort": [], "range": [1], "session": "bare-id", "filters": "x"}),
    "#" + json.dumps({"session": {"journey_id": "no-organization"}}),
]

PATHS = [
    # (parent path, frame path, frame query, frame hash) -> the Airflow path
    (["/plugin/activity-explorer", "/explorer/", "", "#%7B%7D"], "/plugin/activity-explorer/explorer/#%7B%7D"),
    (["/plugin/activity-explorer/explorer/", "/explorer/", "?a=1", "#x"], "/plugin/activity-explorer/explorer/?a=1#x"),
    (["/airflow/plugin/activity-explorer/airflow/explorer/", "/airflow/explorer/", "", "#s"],
     "/airflow/plugin/activity-explorer/airflow/explorer/#s"),
    (["/dags/event_pipeline/runs/x", "/explorer/", "", "#s"], None),  # not a plugin page: leave it alone
    (["/plugin/", "/explorer/", "", ""], None),
]  # fmt: skip


def test_view_state_round_trips_through_the_url():
    node = shutil.which("node")
    assert node, "node is missing (apt-get install nodejs): the URL state test runs the page's state.js under it"
    payload = {"views": VIEWS, "broken": BROKEN, "paths": [args for args, _ in PATHS]}
    result = subprocess.run(
        [node, "-e", SCRIPT, str(STATE_JS)], input=json.dumps(payload), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)

    for view, trip in zip(VIEWS, out["roundTrips"], strict=True):
        assert trip["back"] == view
        assert trip["backWithoutMark"] == view
        # the hash is one URL component: nothing in it ends the fragment or needs the browser to re-encode
        assert trip["hash"].startswith("#") and not set(trip["hash"][1:]) & set('#?& "<>{}|\\^`')
    assert out["broken"] == [DEFAULTS] * len(BROKEN)
    assert out["paths"] == [expected for _, expected in PATHS]
