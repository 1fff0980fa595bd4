"""S3 delivery over HTTP against moto's S3 server, through the Amazon provider's S3Hook (an Airflow Connection)."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from eventpipe.deliver.run import deliver_interval
from eventpipe.deliver.s3 import LocalStore, cut_parts
from tests.deliver.conftest import BUCKET, HOURS, KMS_KEY, destinations, interval_ids, objects


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


def test_parts_manifest_and_sse_kms_over_http(con, s3):
    hour = HOURS[0]
    run = deliver_interval(con, hour, destinations=customer_s3(max_part_events=40), run_id="r1")
    assert not run.failed, run.summary()

    stored = objects(s3)
    manifests = {
        key: json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        for key in stored
        if key.endswith(".manifest.json")
    }
    organizations = {row[0] for row in con.execute("SELECT DISTINCT organization_id FROM raw.session_event").fetchall()}
    assert len(manifests) == len(organizations) == 2

    seen = {"Session": [], "Audit": []}
    for manifest_key, manifest in manifests.items():
        org = manifest["organizationId"]
        assert manifest_key == f"exports/{org}/_manifests/dt=2026-11-27/hour=06/{org}-20261127T06.manifest.json"
        assert sum(f["events"] for f in manifest["files"]) == manifest["events"]
        for entry in manifest["files"]:
            key = entry["key"]
            assert key.startswith(f"exports/{org}/{entry['kind']}/dt=2026-11-27/hour=06/{org}-20261127T06-")
            assert entry["events"] <= 40  # bounded parts
            obj = s3.get_object(Bucket=BUCKET, Key=key)
            body = obj["Body"].read()
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]
            assert obj["ServerSideEncryption"] == "aws:kms" and obj["SSEKMSKeyId"] == KMS_KEY
            lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
            assert len(lines) == entry["events"]
            for line in lines:
                assert list(line)[:9] == [
                    "organizationId", "eventTime", "eventId", "appId", "branchId", "sessionId", "deployId", "type",
                    "kind",
                ]  # fmt: skip
                assert line["organizationId"] == org and line["kind"] == entry["kind"]
                assert line["eventTime"].endswith("Z")
            seen[entry["kind"]] += [line["eventId"] for line in lines]
        assert set(stored) >= {f["key"] for f in manifest["files"]}

    # Every App Event and Audit event of the interval, exactly once, and nothing of another interval.
    assert sorted(seen["Session"]) == sorted(interval_ids(con, "session_event", hour))
    assert sorted(seen["Audit"]) == sorted(interval_ids(con, "audit_event", hour))
    assert len(stored) == len(manifests) + sum(len(m["files"]) for m in manifests.values())
    assert max(len(m["files"]) for m in manifests.values()) > 2  # the 40-event bound did cut parts


def test_a_rerun_overwrites_the_same_keys_and_the_ledger_skips_what_is_delivered(con, s3):
    hour = HOURS[1]
    first = deliver_interval(con, hour, destinations=customer_s3(), run_id="r1")
    before = {key: obj["ETag"] for key, obj in objects(s3).items()}
    second = deliver_interval(con, hour, destinations=customer_s3(), run_id="r2")
    after = {key: obj["ETag"] for key, obj in objects(s3).items()}

    assert after == before  # same keys, same bytes: nothing added
    assert all(not p.skipped for p in first.outcomes[0].parts)
    assert all(p.skipped for p in second.outcomes[0].parts)
    attempts = con.execute("SELECT sum(attempts), count(*) FROM ops.delivery").fetchone()
    assert attempts == (len(first.outcomes[0].parts), len(first.outcomes[0].parts))  # the re-run sent nothing

    forced = deliver_interval(con, hour, destinations=customer_s3(), run_id="r3", force=True)
    assert all(not p.skipped for p in forced.outcomes[0].parts)
    assert {key: obj["ETag"] for key, obj in objects(s3).items()} == before  # overwritten in place
    assert con.execute("SELECT sum(attempts) FROM ops.delivery").fetchone()[0] == 2 * attempts[0]


def test_a_missing_bucket_fails_that_destination_only_with_no_secret_in_the_error(con, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
    both = destinations(
        gone={"type": "s3", "organizations": ["*"], "connection_id": "customer_aws", "bucket": "no-such-bucket"},
        local={"type": "s3", "organizations": ["*"], "connection_id": "local_fs", "bucket": "local-bucket"},
    )
    run = deliver_interval(con, HOURS[0], destinations=both)
    assert [o.destination.name for o in run.failed] == ["gone"]
    assert "NoSuchBucket" in run.failed[0].error and "testing-secret" not in run.failed[0].error
    local = run.outcomes[1]
    assert local.error is None and local.delivered == len(interval_ids(con, "session_event", HOURS[0])) + len(
        interval_ids(con, "audit_event", HOURS[0])
    )
    assert list((tmp_path / "local-bucket").rglob("*.json.gz"))
    # Every part of every organization was tried (a failed PUT stops neither the next part nor the next
    # organization), each recorded as failed, and no manifest over the missing files.
    failed = con.execute(
        "SELECT count(DISTINCT organization_id), count(*) FILTER (status = 'failed'),"
        " count(*) FILTER (kind = 'manifest') FROM ops.delivery WHERE destination = 'gone'"
    )
    assert failed.fetchone() == (2, 4, 0)


def test_parts_are_bounded_by_bytes_and_deterministic(con):
    from eventpipe.deliver.events import read_interval

    events = read_interval(con, HOURS[0], {"Session"}).by_kind["Session"]
    org_events = next(iter(events.values()))
    parts = list(cut_parts(org_events, "Session", 1_000_000, 4_000))
    assert len(parts) > 1 and all(part.raw_bytes <= 4_000 or len(part.events) == 1 for part in parts)
    again = list(cut_parts(list(reversed(org_events)), "Session", 1_000_000, 4_000))
    assert [p.sha256 for p in again] == [p.sha256 for p in parts]  # same events, same bytes, same checksum


def test_the_local_store_refuses_keys_that_escape_it(tmp_path):
    with pytest.raises(ValueError, match="plain relative key"):
        LocalStore(tmp_path).put("bucket", "../../etc/x", b"", content_type="x", content_encoding=None)
