"""An S3 destination's manifests: one per organization and arrival hour, listing every object delivered for it.

A run rewrites the manifest of each organization hour it delivered objects for once, after that organization's
units (not once per unit: a catch-up's hour holds a unit per kind and load commit). A run that died between a
unit's done row and the hour's manifest left the manifest older than the hour's objects: the next run to deliver to
the destination finds it from the ledger (``delivery_stale_manifests.sql``) and rewrites it first.
"""

from __future__ import annotations

from datetime import datetime

from eventpipe.deliver import s3
from eventpipe.deliver.ledger import DELIVERED, Ledger, PartRecord
from eventpipe.deliver.sending import Sender
from eventpipe.utc import naive_utc


def write(ledger: Ledger, sender: Sender, organization_id: str, interval_start: datetime, commit_seq: int) -> None:
    """The hour's manifest, rewritten with every object delivered for the organization and hour so far; its ledger
    row carries the hour's last commit written in it."""
    destination = sender.destination
    params = {"destination": destination.name, "organization_id": organization_id, "interval_start": interval_start}
    objects = ledger.fetchall("delivery_s3_objects", params)
    body = s3.manifest(destination, organization_id, interval_start, objects)
    key = s3.manifest_key(destination, organization_id, interval_start)
    record = PartRecord(
        destination.name, destination.type, organization_id, s3.MANIFEST, commit_seq, interval_start, 0, DELIVERED,
        0, target=f"s3://{destination.options['bucket']}/{key}", attempts=1, bytes=len(body),
    )  # fmt: skip
    sender.store.put(destination.options["bucket"], key, body, content_type="application/json", content_encoding=None)
    ledger.write([record])


def stale(ledger: Ledger, destination_name: str) -> list[tuple[str, datetime, int]]:
    """The organization hours whose manifest is missing or older than their objects (a run died before writing it):
    organization, hour, the hour's last commit."""
    rows = ledger.fetchall("delivery_stale_manifests", {"destination": destination_name})
    return [(organization_id, naive_utc(hour), int(commit_seq)) for organization_id, hour, commit_seq in rows]


def repair(ledger: Ledger, sender: Sender, hours: list[tuple[str, datetime, int]]) -> None:
    """Rewrite the manifests ``stale`` found."""
    for organization_id, interval_start, commit_seq in hours:
        write(ledger, sender, organization_id, interval_start, commit_seq)
