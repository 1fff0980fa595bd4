"""S3 delivery over HTTP against moto's S3 server, through the Amazon provider's S3Hook (an Airflow Connection)."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from eventpipe.deliver.events import stream
from eventpipe.deliver.ledger import Ledger
from eventpipe.deliver.parts import cut
from eventpipe.deliver.run import deliver_pending, resend
from eventpipe.deliver.s3 import LocalStore
from eventpipe.ingest.load import load_interval
from tests.conftest import write_landing_file
from tests.deliver.conftest import (
    BUCKET,
    END,
    HOURS,
    KMS_KEY,
    START,
    destinations,
    interval_ids,
    loaded_ids,
    objects,
    partition,
)


def customer_s3(**options):
    return destinations(
        customer_s3={
            "type": "s3",
            "organizations": ["*"],
            "connection_id": "customer_aws",
            "bucket": BUCKET,
            "prefix": "exports/{organization_id}",
            "sse_kms_key_id": KMS_KEY,
            **options,
        }
    )


def manifests(client) -> dict[str, dict]:
    return {
        key: json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        for key in objects(client)
        if key.endswith(".manifest.json")
    }


def test_parts_manifest_and_sse_kms_over_http(con, target, s3):
    run = deliver_pending(target, destinations=customer_s3(max_part_events=40), run_id="r1")
    assert not run.failed, run.summary()

    stored = objects(s3)
    found = manifests(s3)
    organizations = {row[0] for row in con.execute("SELECT DISTINCT organization_id FROM raw.session_event").fetchall()}
    assert len(organizations) == 2 and len(found) == len(organizations) * len(HOURS)  # one per organization and hour

    seen = {(kind, hour): [] for kind in ("Session", "Audit") for hour in HOURS}
    for manifest_key, manifest in found.items():
        org = manifest["organizationId"]
        hour = next(h for h in HOURS if manifest["interval_start"] == f"{h:%Y-%m-%dT%H:%M:%SZ}")
        stamp = f"{hour:%Y%m%dT%H}"
        assert manifest_key == f"exports/{org}/_manifests/{partition(hour)}/{org}-{stamp}.manifest.json"
        assert sum(f["events"] for f in manifest["files"]) == manifest["events"] == sum(manifest["counts"].values())
        for entry in manifest["files"]:
            key = entry["key"]
            # <organization>-<hour>-c<commit>-<part>.json.gz: deterministic, so a re-run overwrites it
            assert key.startswith(f"exports/{org}/{entry['kind']}/{partition(hour)}/{org}-{stamp}-c")
            assert entry["events"] <= 40  # bounded parts
            obj = s3.get_object(Bucket=BUCKET, Key=key)
            body = obj["Body"].read()
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]
            assert obj["ServerSideEncryption"] == "aws:kms" and obj["SSEKMSKeyId"] == KMS_KEY
            lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
            assert len(lines) == entry["events"]
            assert [lines[0]["eventId"], lines[-1]["eventId"]] == [entry["first_event_id"], entry["last_event_id"]]
            for line in lines:
                assert list(line)[:9] == [
                    "organizationId", "eventTime", "eventId", "appId", "branchId", "sessionId", "deployId", "type",
                    "kind",
                ]  # fmt: skip
                assert line["organizationId"] == org and line["kind"] == entry["kind"]
                assert line["eventTime"].endswith("Z")
            seen[entry["kind"], hour] += [line["eventId"] for line in lines]
        assert set(stored) >= {f["key"] for f in manifest["files"]}

    # Every App Event and Audit event of each arrival hour exactly once, under its own hour.
    for hour in HOURS:
        assert sorted(seen["Session", hour]) == sorted(interval_ids(con, "session_event", hour))
        assert sorted(seen["Audit", hour]) == sorted(interval_ids(con, "audit_event", hour))
    assert len(stored) == len(found) + sum(len(m["files"]) for m in found.values())
    assert max(len(m["files"]) for m in found.values()) > 2  # the 40-event bound did cut parts
    assert run.outcomes[0].delivered == {
        "Session": len(loaded_ids(con, "session_event")),
        "Audit": len(loaded_ids(con, "audit_event")),
    }


def test_a_rerun_sends_nothing_and_a_resend_with_include_delivered_overwrites_the_same_keys(con, target, s3):
    first = deliver_pending(target, destinations=customer_s3(), run_id="r1")
    before = {key: obj["ETag"] for key, obj in objects(s3).items()}
    second = deliver_pending(target, destinations=customer_s3(), run_id="r2")
    lacking = resend(target, START, END, destinations=customer_s3(), run_id="r3")

    assert {key: obj["ETag"] for key, obj in objects(s3).items()} == before  # nothing added, nothing rewritten
    parts = first.outcomes[0].parts_sent
    assert parts > 0 and first.outcomes[0].parts_skipped == 0
    assert second.outcomes[0].parts_sent == second.outcomes[0].parts_skipped == 0  # nothing pending
    assert lacking.outcomes[0].parts_sent == 0 and lacking.outcomes[0].parts_skipped == parts
    data_attempts = "SELECT sum(attempts), count(*) FROM ops.delivery_part WHERE kind != 'manifest'"
    assert con.execute(data_attempts).fetchone() == (parts, parts)  # neither sent anything

    again = resend(target, START, END, destinations=customer_s3(), run_id="r4", include_delivered=True)
    assert again.outcomes[0].parts_sent == parts and again.outcomes[0].parts_skipped == 0
    assert again.outcomes[0].possible_duplicates == 0  # S3 overwrites: no copies
    assert {key: obj["ETag"] for key, obj in objects(s3).items()} == before  # overwritten in place, same bytes
    assert con.execute(data_attempts).fetchone() == (2 * parts, parts)


def test_the_manifest_lists_every_object_of_its_organization_and_hour_across_commits(con, target, s3, tmp_path):
    """A late file lands in an hour already delivered and loads as a second commit: its events go to objects of
    their own (the commit in the key), the first commit's objects stay as they were, and the hour's manifest is
    rewritten to list the objects of both commits, so that it still names every file of the hour."""
    hour = HOURS[0]
    org = con.execute("SELECT min(organization_id) FROM raw.session_event").fetchone()[0]
    deliver_pending(target, destinations=customer_s3(), run_id="first")
    key = f"exports/{org}/_manifests/{partition(hour)}/{org}-{hour:%Y%m%dT%H}.manifest.json"
    before = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    first_objects = {k: o["ETag"] for k, o in objects(s3).items() if not k.endswith(".manifest.json")}

    late = []  # copies of the hour's events under new ids, as a producer's late file would bring them
    for table, count in (("session_event", 5), ("audit_event", 3)):
        rows = con.execute(
            f"SELECT e.payload FROM raw.{table} e JOIN ops.loaded_file f ON e._source_file = f.source_file"
            " WHERE f.interval_start = ? AND e.organization_id = ? ORDER BY e.event_id LIMIT ?",
            [hour, org, count],
        ).fetchall()
        late += [json.loads(payload) | {"eventId": f"late-{table}-{n}"} for n, (payload,) in enumerate(rows)]
    landing = tmp_path / "landing"
    write_landing_file(landing, partition(hour), "late.json.gz", [json.dumps(e).encode() for e in late])
    loaded = load_interval(con, str(landing), hour, run_id="late")
    assert loaded.loaded == len(late) and len(loaded.commits) == 1

    run = deliver_pending(target, destinations=customer_s3(), run_id="second")
    assert not run.failed and run.outcomes[0].delivered == {"Session": 5, "Audit": 3}
    after = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    listed = {f["key"] for f in after["files"]}
    assert listed > {f["key"] for f in before["files"]}  # the first commit's objects are still listed
    late_keys = listed - {f["key"] for f in before["files"]}
    assert late_keys and all(f"-c{loaded.commits[0]:010d}-" in k for k in late_keys)
    stored = objects(s3)
    hour_keys = {k for k in stored if k.startswith(f"exports/{org}/") and f"/{partition(hour)}/" in k}
    assert listed == hour_keys - {key}  # every object of the organization and hour, and only those
    assert {k: stored[k]["ETag"] for k in first_objects} == first_objects  # the first commit's objects untouched
    where = f"organization_id = '{org}'"
    assert after["counts"] == {
        "Session": len(interval_ids(con, "session_event", hour, where)),
        "Audit": len(interval_ids(con, "audit_event", hour, where)),
    }
    assert after["events"] == before["events"] + len(late) == sum(f["events"] for f in after["files"])
    for entry in after["files"]:
        body = s3.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    late_ids = {
        json.loads(line)["eventId"]
        for k in late_keys
        for line in gzip.decompress(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()).splitlines()
    }
    assert late_ids == {e["eventId"] for e in late}


def test_a_missing_bucket_fails_that_destination_only_with_no_secret_in_the_error(
    con, target, s3, tmp_path, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
    both = destinations(
        gone={"type": "s3", "organizations": ["*"], "connection_id": "customer_aws", "bucket": "no-such-bucket"},
        local={"type": "s3", "organizations": ["*"], "connection_id": "local_fs", "bucket": "local-bucket"},
    )
    run = deliver_pending(target, destinations=both)
    assert [o.destination.name for o in run.failed] == ["gone"]
    assert "NoSuchBucket" in run.failed[0].error and "testing-secret" not in run.failed[0].error
    assert "2 organization(s) failed" in run.failed[0].error  # each organization tried, each failed
    local = run.outcomes[1]
    assert local.error is None and local.delivered == {
        "Session": len(loaded_ids(con, "session_event")),
        "Audit": len(loaded_ids(con, "audit_event")),
    }
    assert list((tmp_path / "local-bucket").rglob("*.json.gz"))
    # A failed PUT stops its organization's units for the run, never the next organization: each organization's
    # first unit is recorded failed, the rest wait (not done), and no manifest lists the missing files.
    failed = con.execute(
        "SELECT count(DISTINCT organization_id), count(*) FILTER (status = 'failed'),"
        " count(*) FILTER (status = 'delivered') FROM ops.delivery_part WHERE destination = 'gone'"
    )
    assert failed.fetchone() == (2, 2, 0)
    assert con.execute("SELECT count(*) FROM ops.delivery_done WHERE destination = 'gone'").fetchone() == (0,)


def test_parts_are_bounded_by_bytes_and_deterministic(con, target):
    """A unit's objects are cut as its events stream, at most ``max_part_bytes`` uncompressed (an event alone may be
    more), and are the same bytes however the stream is read (its chunk size), so a part's key and checksum never
    change."""
    ledger = Ledger(target, None)
    destination = customer_s3(max_part_bytes=4_000)[0]
    unit = max(ledger.in_range(("Session",), START, END), key=lambda u: u.events)
    parts = list(cut(destination, unit, stream(ledger.fetchall, unit)))
    assert len(parts) > 1 and [p.number for p in parts] == list(range(len(parts)))
    for part in parts:
        lines = gzip.decompress(part.body).splitlines(keepends=True)
        assert len(lines) == part.object_events and (sum(map(len, lines)) <= 4_000 or len(lines) == 1)
    assert sum(p.object_events for p in parts) == unit.events
    again = list(cut(destination, unit, stream(ledger.fetchall, unit, chunk=7)))
    assert [p.checksum() for p in again] == [p.checksum() for p in parts]  # same events, same bytes


def test_the_local_store_refuses_keys_that_escape_it(tmp_path):
    with pytest.raises(ValueError, match="plain relative key"):
        LocalStore(tmp_path).put("bucket", "../../etc/x", b"", content_type="x", content_encoding=None)


def test_one_manifest_per_organization_hour_and_a_run_that_died_before_it_is_repaired_by_the_next(con, target, s3):
    """A run writes each organization hour's manifest once, after the organization's units (not once per unit). A
    run that died after a unit's done row and before the hour's manifest left no manifest row: the next run finds
    the hour from the ledger and writes its manifest, though it has no unit to send."""
    run = deliver_pending(target, destinations=customer_s3(max_part_events=40), run_id="r1")
    assert not run.failed, run.summary()
    hours = con.execute(
        "SELECT DISTINCT organization_id, interval_start FROM ops.delivery_part WHERE kind <> 'manifest'"
    ).fetchall()
    rows = con.execute("SELECT organization_id, interval_start FROM ops.delivery_part WHERE kind = 'manifest'")
    assert sorted(rows.fetchall()) == sorted(hours)  # one manifest row per organization hour, whatever its units
    org, hour = min(hours)
    key = f"exports/{org}/_manifests/{partition(hour)}/{org}-{hour:%Y%m%dT%H}.manifest.json"
    listed = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.delete_object(Bucket=BUCKET, Key=key)  # as if the run had died before it
    con.execute(
        "DELETE FROM ops.delivery_part WHERE kind = 'manifest' AND organization_id = ? AND interval_start = ?",
        [org, hour],
    )

    again = deliver_pending(target, destinations=customer_s3(max_part_events=40), run_id="r2")
    assert not again.failed and again.outcomes[0].parts_sent == 0  # nothing pending: only the manifest
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == listed
    rows = con.execute("SELECT organization_id, interval_start FROM ops.delivery_part WHERE kind = 'manifest'")
    assert sorted(rows.fetchall()) == sorted(hours)
