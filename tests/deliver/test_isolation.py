"""Failure isolation in deliveries (issue 9, item 4), against the real receivers, moto's S3 and the local store.

Hostile rows are put straight into ``raw`` (as rows loaded before the loader quarantined them would be): a poison
event (valid JSON, ~10 KB, thousands of nested arrays), organization ids that are paths, an organization whose
folder cannot be written. Each test checks what landed at the destinations, not the clients' reports.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pytest

from eventpipe.deliver.ga4 import Ga4Client, client_id
from eventpipe.deliver.heap import heap_event
from eventpipe.deliver.run import deliver_pending, resend
from eventpipe.deliver.s3 import LocalStore, UnsafeKeyError
from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
from eventpipe.devtools.receivers.hec import HecReceiver
from eventpipe.devtools.receivers.server import read_ndjson
from tests.deliver.conftest import (
    BUCKET,
    END,
    HOURS,
    START,
    destinations,
    free_port,
    http_conn,
    interval_ids,
    loaded_ids,
    objects,
    partition,
)
from tests.deliver.test_clients import event
from tests.deliver.test_push import API_SECRET, TOKEN, hec_destination

HOUR = HOURS[0]
DEEP = '{"deep":' + "[" * 5000 + "]" * 5000 + "}"  # ~10 KB, valid JSON, deeper than any recursive parser goes


def organizations(con) -> list[str]:
    rows = con.execute("SELECT DISTINCT organization_id FROM raw.session_event ORDER BY 1").fetchall()
    return [row[0] for row in rows]


JSON_COLUMNS = ("payload", "analytics_event_properties")


def copy_event(con, source_id: str, new_id: str, **changes: str) -> None:
    """A copy of a loaded raw row under a new event id, with some columns replaced (text values), in the load commit
    of the row it copies; with a unit of its own (``ops.load_commit_unit``) when its organization has none there,
    as the load commit would have written."""
    columns = {"event_id": new_id, **changes}
    exprs = ", ".join(f"?::{'json' if c in JSON_COLUMNS else 'varchar'} AS {c}" for c in columns)
    con.execute(
        f"INSERT INTO raw.session_event SELECT * REPLACE ({exprs}) FROM raw.session_event WHERE event_id = ?",
        [*columns.values(), source_id],
    )
    con.execute(
        "INSERT INTO ops.load_commit_unit"
        " SELECT e._commit_seq, e.organization_id, k.kind, f.interval_start, 1"
        " FROM raw.session_event e JOIN ops.loaded_file f ON e._source_file = f.source_file,"
        " (VALUES ('Session'), ('analytics')) k(kind)"
        " WHERE e.event_id = ? AND (k.kind = 'Session' OR e.event_type = 'analytics_event') AND NOT EXISTS ("
        "  SELECT 1 FROM ops.load_commit_unit u WHERE u.commit_seq = e._commit_seq"
        "  AND u.organization_id = e.organization_id AND u.kind = k.kind AND u.interval_start = f.interval_start)",
        [new_id],
    )


def first_of(con, org: str, where: str = "true") -> str:
    rows = con.execute(
        "SELECT e.event_id FROM raw.session_event e JOIN ops.loaded_file f ON e._source_file = f.source_file"
        f" WHERE f.interval_start = ? AND e.organization_id = ? AND {where} ORDER BY e.event_id LIMIT 1",
        [HOUR, org],
    ).fetchone()
    return rows[0]


def dead_letters(con, destination: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT event_id, reason FROM ops.delivery_dead_letter WHERE destination = ?", [destination]
    ).fetchall()
    return dict(rows)


def s3_events(client, prefix: str = "") -> dict[str, list[dict]]:
    """``{key: events}`` of every data object in the moto bucket."""
    found = {}
    for key in objects(client):
        if key.endswith(".json.gz") and key.startswith(prefix):
            body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            found[key] = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    return found


def test_a_poison_event_is_dead_lettered_and_everything_else_reaches_every_destination(
    con, target, s3, tmp_path, monkeypatch
):
    """One org's unit holds a poison App Event and a poison analytics event: S3, HEC, Heap and GA4 each dead-letter
    those two with a reason and deliver every other event, of that organization and the next."""
    first, *others = organizations(con)
    assert others  # the poison sits in the first organization: the others come after it
    copy_event(con, first_of(con, first), "zz-poison-app", payload=DEEP)
    analytics = first_of(con, first, "e.event_type = 'analytics_event'")
    copy_event(con, analytics, "zz-poison-analytics", payload=DEEP, analytics_event_properties=DEEP)
    poison = {"zz-poison-app", "zz-poison-analytics"}

    hec = HecReceiver(tokens={TOKEN: {"ack": True}}, out_dir=tmp_path / "splunk").start()
    heap = HeapReceiver(tmp_path / "heap").start()
    ga4 = Ga4Receiver(tmp_path / "ga4", api_secret=API_SECRET).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEC", http_conn(hec.url, TOKEN))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_GA4", http_conn(ga4.url, API_SECRET))
        config = destinations(
            customer_s3={
                "type": "s3", "organizations": ["*"], "connection_id": "customer_aws", "bucket": BUCKET,
                "prefix": "exports/{organization_id}",
            },
            splunk=hec_destination(),
            heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
            ga4={"type": "ga4", "organizations": ["*"], "connection_id": "test_ga4", "measurement_id": "G-TEST0001"},
        )  # fmt: skip
        run = deliver_pending(target, destinations=config, run_id="poison")
        hec_events = hec.events()
    finally:
        for server in (hec, heap, ga4):
            server.stop()

    assert not run.failed, run.summary()  # a dead letter is recorded, not a failure
    app = loaded_ids(con, "session_event") - poison
    audit = loaded_ids(con, "audit_event")
    analytics_ids = loaded_ids(con, "session_event", "event_type = 'analytics_event'") - poison
    assert len(analytics_ids) > 2

    delivered = [e for events in s3_events(s3).values() for e in events]
    assert sorted(e["eventId"] for e in delivered if e["kind"] == "Session") == sorted(app)
    assert sorted(e["eventId"] for e in delivered if e["kind"] == "Audit") == sorted(audit)
    assert sorted(e["fields"]["event_id"] for e in hec_events) == sorted(app)
    assert sorted(e["idempotency_key"] for e in read_ndjson(tmp_path / "heap" / "42.ndjson")) == sorted(analytics_ids)
    ga4_ids = [e["params"]["event_id"] for e in read_ndjson(tmp_path / "ga4" / "G-TEST0001.ndjson")]
    assert sorted(ga4_ids) == sorted(analytics_ids)

    # Each destination dead-lettered exactly the poison it was given, with the reason, and counted it.
    assert dead_letters(con, "customer_s3").keys() == dead_letters(con, "splunk").keys() == poison
    assert dead_letters(con, "heap").keys() == dead_letters(con, "ga4").keys() == {"zz-poison-analytics"}
    for name in ("customer_s3", "splunk", "heap", "ga4"):
        assert all(reason.startswith("too_deeply_nested") for reason in dead_letters(con, name).values())
    assert [o.dead_lettered for o in run.outcomes] == [2, 2, 1, 1] and [o.too_old for o in run.outcomes] == [0] * 4
    # The S3 manifest of the poisoned organization lists only what its objects hold, and its parts' ledger rows
    # add up: every event delivered or dead-lettered.
    hour = HOURS[0]
    key = f"exports/{first}/_manifests/{partition(hour)}/{first}-{hour:%Y%m%dT%H}.manifest.json"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    where = f"organization_id = '{first}'"
    assert manifest["counts"] == {
        "Session": len(interval_ids(con, "session_event", hour, where) - poison),
        "Audit": len(interval_ids(con, "audit_event", hour, where)),
    }
    assert manifest["events"] == sum(f["events"] for f in manifest["files"]) == sum(manifest["counts"].values())
    rows = con.execute(
        "SELECT sum(events), sum(delivered), sum(dead_lettered) FROM ops.delivery_part"
        " WHERE destination = 'customer_s3' AND kind = 'Session' AND organization_id = ?",
        [first],
    ).fetchone()
    assert rows[0] == rows[1] + rows[2] and rows[2] == 2

    # A re-run finds nothing pending; a resend of the range skips every part and keeps the dead letters.
    again = deliver_pending(target, destinations=config[:1], run_id="poison-again")
    assert not again.failed and again.outcomes[0].parts_sent == again.outcomes[0].units == 0
    resent = resend(target, START, END, destinations=config[:1], run_id="poison-resend")
    assert not resent.failed and resent.outcomes[0].parts_sent == 0 and resent.outcomes[0].parts_skipped > 0
    assert dead_letters(con, "customer_s3").keys() == poison


def test_one_organizations_failure_does_not_stop_the_others_and_still_fails_the_task(
    con, target, tmp_path, monkeypatch
):
    """The first organization's folder cannot be written (a file sits where it goes): its first unit's part is
    recorded as failed and its later units wait for the next run, the next organization is delivered whole, and the
    run reports the failure so the task fails."""
    first, second = organizations(con)[:2]
    root = tmp_path / "store"
    (root / "local-bucket" / "exports").mkdir(parents=True)
    (root / "local-bucket" / "exports" / first).write_text("not a folder")
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(root)}}))
    config = destinations(
        local={"type": "s3", "organizations": ["*"], "connection_id": "local_fs", "bucket": "local-bucket",
               "prefix": "exports/{organization_id}"},
    )  # fmt: skip
    run = deliver_pending(target, destinations=config)

    assert [o.destination.name for o in run.failed] == ["local"] and first in run.failed[0].error
    assert second not in run.failed[0].error and "1 organization(s) failed" in run.failed[0].error
    written = {
        json.loads(line)["eventId"]
        for path in (root / "local-bucket" / "exports" / second).rglob("*.json.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    }
    where = f"organization_id = '{second}'"
    assert written == loaded_ids(con, "session_event", where) | loaded_ids(con, "audit_event", where)
    statuses = dict(
        con.execute(
            "SELECT organization_id, list(DISTINCT status ORDER BY status) FROM ops.delivery_part GROUP BY 1"
        ).fetchall()
    )
    assert statuses == {first: ["failed"], second: ["delivered"]}
    units = dict(
        con.execute(
            "SELECT organization_id, count(*) FROM ops.load_commit_unit WHERE kind IN ('Session', 'Audit') GROUP BY 1"
        ).fetchall()
    )
    assert units == {first: 2 * len(HOURS), second: 2 * len(HOURS)}  # Session and Audit of each hour
    done = dict(con.execute("SELECT organization_id, count(*) FROM ops.delivery_done GROUP BY 1").fetchall())
    assert done == {second: units[second]}  # none of the first organization

    # The folder is fixed: the next run delivers the first organization's units, and only those.
    (root / "local-bucket" / "exports" / first).unlink()
    retry = deliver_pending(target, destinations=config)
    assert not retry.failed and retry.outcomes[0].units == units[first]
    where = f"organization_id = '{first}'"
    assert {
        json.loads(line)["eventId"]
        for path in (root / "local-bucket" / "exports" / first).rglob("*.json.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    } == loaded_ids(con, "session_event", where) | loaded_ids(con, "audit_event", where)


HOSTILE = ("../../escape", "x/../{victim}", "a/b", "..", "org\nname", "")


def test_hostile_organization_ids_never_become_paths_in_the_local_store(con, target, tmp_path, monkeypatch):
    first, victim = organizations(con)[:2]
    source = first_of(con, first)
    hostile = [org.format(victim=victim) for org in HOSTILE]
    for number, org in enumerate(hostile):
        copy_event(con, source, f"hostile-{number}", organization_id=org)
    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(root)}}))
    config = destinations(
        local={"type": "s3", "organizations": ["*"], "connection_id": "local_fs", "bucket": "local-bucket",
               "prefix": "exports/{organization_id}"},
    )  # fmt: skip
    run = deliver_pending(target, destinations=config)

    assert not run.failed, run.summary()
    assert run.outcomes[0].dead_lettered == len(hostile)
    assert [p.name for p in root.iterdir()] == ["local-bucket"]  # no second bucket folder
    assert sorted(p.name for p in (root / "local-bucket" / "exports").iterdir()) == sorted([first, victim])
    for org in (first, victim):  # each organization's objects hold its own events only, none of the hostile ones
        for path in (root / "local-bucket" / "exports" / org).rglob("*.json.gz"):
            lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
            assert {e["organizationId"] for e in lines} == {org}
            assert not any(e["eventId"].startswith("hostile-") for e in lines)
    reasons = dead_letters(con, "local")
    assert set(reasons) == {f"hostile-{n}" for n in range(len(hostile))}
    assert all(reason.startswith("invalid_organization_id") for reason in reasons.values())
    # Their units are done (every event dead-lettered): a re-run finds nothing pending, a resend of the range skips
    # their parts, and nothing is recorded anew.
    done = con.execute("SELECT count(*) FROM ops.delivery_done WHERE organization_id IN ?", [hostile]).fetchone()
    assert done == (len(hostile),)
    ledger = con.execute("SELECT * FROM ops.delivery_part WHERE kind != 'manifest' ORDER BY ALL").fetchall()
    again = deliver_pending(target, destinations=config)
    assert not again.failed and again.outcomes[0].parts_sent == again.outcomes[0].units == 0
    resent = resend(target, START, END, destinations=config)
    assert not resent.failed and resent.outcomes[0].parts_sent == 0
    assert con.execute("SELECT * FROM ops.delivery_part WHERE kind != 'manifest' ORDER BY ALL").fetchall() == ledger
    assert set(dead_letters(con, "local")) == set(reasons)


def test_hostile_organization_ids_never_leave_their_prefix_on_s3(con, target, s3):
    first, victim = organizations(con)[:2]
    for number, org in enumerate(HOSTILE):
        copy_event(con, first_of(con, first), f"hostile-{number}", organization_id=org.format(victim=victim))
    config = destinations(
        customer_s3={"type": "s3", "organizations": ["*"], "connection_id": "customer_aws", "bucket": BUCKET,
                     "prefix": "exports/{organization_id}"},
    )  # fmt: skip
    run = deliver_pending(target, destinations=config)

    assert not run.failed, run.summary()
    keys = list(objects(s3))
    assert keys and all(key.split("/")[:2] in (["exports", first], ["exports", victim]) for key in keys)
    for key, events in s3_events(s3).items():
        assert {e["organizationId"] for e in events} == {key.split("/")[1]}
    assert len(dead_letters(con, "customer_s3")) == len(HOSTILE)


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("bucket", "x/../globex/object.json.gz"),  # inside the bucket, but another organization's object
        ("bucket", "../../escape/object.json.gz"),
        ("bucket", "/etc/object"),
        ("bucket", "a//b"),
        ("bucket", "a/./b"),
        ("../bucket", "object"),
        ("bucket/..", "object"),
        ("bucket", "a\\..\\b"),
    ],
)
def test_the_local_store_is_confined_to_its_bucket_folder(tmp_path, bucket, key):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(UnsafeKeyError):
        store.put(bucket, key, b"x", content_type="x", content_encoding=None)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*"))
    assert [p.name for p in tmp_path.iterdir()] in ([], ["store"])


def test_the_local_store_refuses_a_symlink_out_of_its_bucket(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "store" / "bucket").mkdir(parents=True)
    (tmp_path / "store" / "bucket" / "link").symlink_to(outside)
    with pytest.raises(UnsafeKeyError):
        LocalStore(tmp_path / "store").put("bucket", "link/object", b"x", content_type="x", content_encoding=None)
    assert not any(outside.iterdir())


def test_s3_errors_are_redacted_in_the_ledger_and_the_run(con, target, monkeypatch):
    """An endpoint URL with a password in it, unreachable: botocore's error echoes the URL. Neither
    ops.delivery_part nor the run's error holds the password."""
    secret = "s3cr3t-in-the-url"
    extra = {
        "endpoint_url": f"http://AKIAEXAMPLE:{secret}@127.0.0.1:{free_port()}",
        "region_name": "us-east-1",
        "config_kwargs": {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 2},
    }
    connection = {"conn_type": "aws", "login": "testing", "password": "testing-secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_UNREACHABLE_AWS", json.dumps(connection))
    config = destinations(
        gone={"type": "s3", "organizations": ["*"], "connection_id": "unreachable_aws", "bucket": "a-bucket"},
    )
    run = deliver_pending(target, destinations=config)

    errors = [row[0] for row in con.execute("SELECT error FROM ops.delivery_part WHERE status = 'failed'").fetchall()]
    assert errors and all("Could not connect" in error for error in errors)  # the real error, kept
    assert all(secret not in error and "****" in error for error in errors)
    assert run.failed and secret not in run.failed[0].error


def test_a_session_is_its_organization_and_session_id_at_ga4_and_heap(tmp_path):
    """Two organizations reusing one session id are two GA4 clients and two Heap identities."""
    acme = replace(event(1, session="s-1"), organization_id="acme")
    globex = replace(event(2, session="s-1"), organization_id="globex")
    assert client_id("acme", "s-1") != client_id("globex", "s-1")
    assert heap_event(acme)["identity"] != heap_event(globex)["identity"]
    with Ga4Receiver(tmp_path, api_secret=API_SECRET) as ga4, Ga4Client(ga4.url, "G-TEST0001", API_SECRET) as client:
        report = client.send([acme, globex])
    received = read_ndjson(tmp_path / "G-TEST0001.ndjson")
    assert report.delivered == 2 and report.attempts == 2  # one request per session: never merged
    clients = {e["params"]["event_id"]: e["client_id"] for e in received}
    assert len(set(clients.values())) == 2
