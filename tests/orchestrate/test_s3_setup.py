"""The compose stack's S3 setup (eventpipe.orchestrate.s3_setup): the identity file keeps any character of the
secret, and the buckets are created through the S3 API (moto's server here), once however often it runs."""

from __future__ import annotations

import json
import stat

import boto3

from eventpipe.orchestrate import s3_setup
from tests.e2e.support import moto_server_url

SECRET = 'k"\\@:/%25% x\nq'


def test_the_identity_file_holds_the_key_pair_as_given(tmp_path):
    path = tmp_path / "seaweedfs" / "s3.json"
    assert s3_setup.main(["identities"]) == 2  # the file's path is required
    s3_setup.write_identities(path, {"AWS_ACCESS_KEY_ID": "eventpipe", "AWS_SECRET_ACCESS_KEY": SECRET})
    identity = json.loads(path.read_text())["identities"][0]
    assert identity["credentials"] == [{"accessKey": "eventpipe", "secretKey": SECRET}]
    assert "Write" in identity["actions"] and "List" in identity["actions"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_buckets_are_created_once(monkeypatch):
    with moto_server_url() as url:
        env = {
            "AWS_ENDPOINT_URL": url,
            "EVENTPIPE_LANDING_BUCKET": "eventpipe-landing",
            "EVENTPIPE_DELIVERY_BUCKET": "eventpipe-deliveries",
        }
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET,
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        assert s3_setup.create_buckets(env) == ["eventpipe-landing", "eventpipe-deliveries"]
        assert s3_setup.create_buckets(env) == ["eventpipe-landing", "eventpipe-deliveries"]  # again: no error
        names = [bucket["Name"] for bucket in boto3.client("s3", endpoint_url=url).list_buckets()["Buckets"]]
        # The moto server is shared with other tests of this worker (their buckets are there too): each of ours once.
        assert names.count("eventpipe-landing") == 1 and names.count("eventpipe-deliveries") == 1
