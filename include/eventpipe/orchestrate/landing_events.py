"""Event-driven loads: the landing bucket's S3 event notifications, on an SQS queue, wake ``load_events`` early.

Polling stays the default: without ``EVENTPIPE_LANDING_QUEUE``, ``load_events`` runs on its cron
(``EVENTPIPE_LOAD_SCHEDULE``, every minute) and nothing here is imported. With it (the queue's URL), ``load_events``
runs on an ``AssetOrTimeSchedule``: an asset event on ``eventpipe://landing/notifications``, emitted by an
``AssetWatcher`` when the triggerer receives messages from the queue (the common.messaging provider's
``MessageQueueTrigger``, ``sqs`` scheme: the amazon provider's ``SqsSensorTrigger``), or the sweep's cron
(``EVENTPIPE_LOAD_SWEEP_SCHEDULE``, every 5 minutes), whichever comes first.

A notification wakes a load; it never says what to load. The woken run lists the window and asks the ledger
(``ops.loaded_file``), as a polled run does, because S3 notifications are at least once and can be lost:

- a repeated notification (or two files' notifications waking two runs) finds the ledger holding the file: it loads
  once; a message that names no object (the ``s3:TestEvent`` S3 sends when the configuration is saved) wakes a run
  that finds nothing new, commits nothing and so wakes nothing downstream;
- a lost one (never sent, expired in the queue, or received and deleted by a triggerer that died before it recorded
  the asset event) leaves its file to the sweep, at most ``EVENTPIPE_LOAD_SWEEP_SCHEDULE`` later.

The trigger deletes each message it receives and filters none: a filtered message would stay in the queue and come
back every visibility timeout. S3 sends a notification once the object is written and its listings are strongly
consistent, so the woken run's listing holds the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from eventpipe import settings
from eventpipe.orchestrate.assets import asset, landing_notifications_uri

log = logging.getLogger("eventpipe.pipeline")

WATCHER_NAME = "landing_notifications"

# The trigger's SQS calls: up to 10 messages a receive (SQS' maximum), long polls of 20 s (the maximum: an idle
# queue costs three requests a minute) and a second's pause between two, so a notification wakes a load in
# seconds. Every message received is deleted, none filtered (see above).
TRIGGER_OPTIONS: dict[str, Any] = {
    "max_messages": 10,
    "wait_time_seconds": 20,
    "waiter_delay": 1,
    "delete_message_on_reception": True,
}


def notifications_trigger(queue: str, conn_id: str, **options: Any):
    """The ``MessageQueueTrigger`` (``sqs`` scheme) that receives the queue's messages with Connection ``conn_id``;
    ``options`` override ``TRIGGER_OPTIONS`` (``SqsSensorTrigger``'s parameters)."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return MessageQueueTrigger(scheme="sqs", sqs_queue=queue, aws_conn_id=conn_id, **(TRIGGER_OPTIONS | options))


def notifications_asset(queue: str, conn_id: str):
    """``eventpipe://landing/notifications`` with a watcher on the queue: its asset events are the queue's messages.

    An asset of its own, not the landing zone's (``eventpipe://landing/events``, the load's inlet): the DAG processor
    keeps one definition per asset, the last it reads, and the inlet's, without the watcher, would replace it."""
    from airflow.sdk import AssetWatcher

    watcher = AssetWatcher(name=WATCHER_NAME, trigger=notifications_trigger(queue, conn_id))
    return asset(landing_notifications_uri(), watchers=[watcher])


def load_events_schedule(poll_cron: str):
    """``load_events``' schedule: ``poll_cron`` (the default), or with ``EVENTPIPE_LANDING_QUEUE`` the queue's
    notifications or the sweep's cron. Reads the environment only: no I/O when a DAG file is parsed."""
    from airflow.timetables.trigger import CronTriggerTimetable

    queue = settings.landing_queue()
    if not queue:
        return CronTriggerTimetable(poll_cron, timezone="UTC")
    from airflow.sdk import AssetOrTimeSchedule

    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(settings.load_sweep_schedule(), timezone="UTC"),
        assets=[notifications_asset(queue, settings.landing_queue_conn_id())],
    )


def notified_objects(messages: Iterable[dict]) -> list[str]:
    """``s3://bucket/key`` of each object-created record in SQS messages (their ``Body``: S3's notification JSON),
    in order, repeats kept; a message that is no S3 notification (``s3:TestEvent``, anything else) names none.
    For the log only: what loads is the ledger's answer, not this."""
    import json
    from urllib.parse import unquote_plus

    found = []
    for message in messages:
        try:
            body = json.loads(message.get("Body") or "")
        except (TypeError, ValueError):
            continue
        records = body.get("Records") if isinstance(body, dict) else None
        for record in records if isinstance(records, list) else []:
            s3 = record.get("s3") if isinstance(record, dict) else None
            if not str(record.get("eventName", "")).startswith("ObjectCreated") or not isinstance(s3, dict):
                continue
            bucket, key = (s3.get("bucket") or {}).get("name"), (s3.get("object") or {}).get("key")
            if bucket and key:
                found.append(f"s3://{bucket}/{unquote_plus(key)}")  # keys come URL-encoded, spaces as '+'
    return found


def woken_by(triggering_asset_events: Any) -> list[str]:
    """The objects the notifications that woke a run named (its ``triggering_asset_events`` on the notifications
    asset; none for a run of the timer, a manual trigger or a poll)."""
    if not triggering_asset_events:
        return []
    found = []
    for source, events in triggering_asset_events.items():
        if getattr(source, "uri", source) != landing_notifications_uri():
            continue
        for event in events:
            payload = (getattr(event, "extra", None) or {}).get("payload") or {}
            found.extend(notified_objects(payload.get("message_batch") or []))
    return found


def log_wake(triggering_asset_events: Any) -> list[str]:
    """Logs what the notifications that woke the run named; the run still loads what the ledger lacks."""
    objects = woken_by(triggering_asset_events)
    if objects:
        shown = ", ".join(objects[:10]) + (f" and {len(objects) - 10} more" if len(objects) > 10 else "")
        log.info("woken by S3 notifications naming %d object(s): %s", len(objects), shown)
    return objects
