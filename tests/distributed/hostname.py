"""``[core] hostname_callable`` of the distributed test: each Airflow process reports the name the test gave it.

Both Celery workers run on this one machine, so the default (the machine's FQDN) would record the same hostname on
every task instance; this name tells which worker ran a task (TaskInstance.hostname)."""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    return os.environ.get("EVENTPIPE_TEST_HOSTNAME") or socket.getfqdn()
