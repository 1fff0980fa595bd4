"""The compose stack's S3 server (SeaweedFS) set up from ``.env``: its identity file, then the buckets.

``identities FILE``: writes SeaweedFS' S3 identity file (``weed server -s3 -s3.config FILE``) granting the key pair
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, serialized with ``json.dumps`` so any character in the secret
survives (a shell ``echo`` into ``weed shell`` would not). ``buckets``: creates ``EVENTPIPE_LANDING_BUCKET`` and
``EVENTPIPE_DELIVERY_BUCKET`` through the S3 API at ``AWS_ENDPOINT_URL`` (idempotent), as any S3 client would.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

IDENTITY = "eventpipe"
ACTIONS = ("Admin", "Read", "List", "Tagging", "Write")


def identities(environ: Mapping[str, str]) -> dict:
    credentials = {"accessKey": environ["AWS_ACCESS_KEY_ID"], "secretKey": environ["AWS_SECRET_ACCESS_KEY"]}
    return {"identities": [{"name": IDENTITY, "credentials": [credentials], "actions": list(ACTIONS)}]}


def write_identities(path: Path, environ: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(identities(environ)))


def create_buckets(environ: Mapping[str, str]) -> list[str]:
    import boto3  # only the `buckets` step needs it

    s3 = boto3.client("s3", endpoint_url=environ.get("AWS_ENDPOINT_URL") or None)
    names = [environ["EVENTPIPE_LANDING_BUCKET"], environ["EVENTPIPE_DELIVERY_BUCKET"]]
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for name in names:
        if name not in existing:
            s3.create_bucket(Bucket=name)
    return names


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["identities"] and len(args) == 2:
        write_identities(Path(args[1]), os.environ)
        print(f"wrote the S3 identity {IDENTITY!r} to {args[1]}")
    elif args == ["buckets"]:
        print("buckets ready:", ", ".join(create_buckets(os.environ)))
    else:
        print("usage: python -m eventpipe.orchestrate.s3_setup {identities FILE | buckets}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
