"""Task logs for the runs this process executes itself (``eventpipe run``, ``eventpipe demo``).

A task the scheduler starts runs under Airflow's supervisor, which writes its log file; a task run in this process
(``dag.test``'s loop, see ``eventpipe.local.runner``) has no supervisor, and the UI showed "Log file not found on
worker". While a task runs here, an Airflow listener writes what it logs to the very file the UI reads: the path of
``[logging] log_filename_template`` under ``[logging] base_log_folder``, one JSON object per line, as the
supervisor writes them (``timestamp``, ``level``, ``event``, ``logger``). Secrets are masked by Airflow's masker
before a line is written, as they are in the supervisor's files.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from airflow.listeners import hookimpl

PRIVATE_FILE = 0o600
DEFAULT_TEMPLATE = (
    "dag_id={{ ti.dag_id }}/run_id={{ ti.run_id }}/task_id={{ ti.task_id }}/"
    "{% if ti.map_index >= 0 %}map_index={{ ti.map_index }}/{% endif %}"
    "attempt={{ try_number|default(ti.try_number) }}.log"
)


def log_path(base_folder: Path, template: str, ti) -> Path:
    """The file Airflow's log reader opens for this try of ``ti`` (its ``dag_id``, ``run_id``, ``task_id``,
    ``map_index`` and ``try_number``), rendered from the same Jinja template."""
    import jinja2

    rendered = jinja2.Environment(autoescape=False).from_string(template).render(ti=ti, try_number=ti.try_number)
    path = (base_folder / rendered).resolve()
    if base_folder.resolve() not in path.parents:
        raise ValueError(f"log path {rendered!r} leaves the log folder")
    return path


class JsonLinesHandler(logging.Handler):
    """Every record as one JSON line in the supervisor's shape, its message masked."""

    def __init__(self, stream: TextIO, mask) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.mask = mask

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = record.getMessage()
            if record.exc_info:
                event += "\n" + logging.Formatter().formatException(record.exc_info)
            line = {
                "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "event": self.mask(event),
                "logger": record.name,
            }
            self.stream.write(json.dumps(line, default=str) + "\n")
            self.stream.flush()
        except Exception:  # a log line must never fail the task
            self.handleError(record)


class InProcessTaskLogs:
    """An Airflow listener: from a task's start (running) to its end (success, failed, skipped), the records
    reaching the root logger (the task's own, the library's, dbt's and Cosmos') also go to the task's log file."""

    def __init__(self, base_folder: Path, template: str, mask) -> None:
        self.base_folder = base_folder
        self.template = template
        self.mask = mask
        self._open: dict[tuple, tuple[JsonLinesHandler, TextIO]] = {}

    @staticmethod
    def _key(ti) -> tuple:
        return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number)

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance) -> None:
        path = log_path(self.base_folder, self.template, task_instance)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        stream = os.fdopen(fd, "a", encoding="utf-8")
        handler = JsonLinesHandler(stream, self.mask)
        logging.getLogger().addHandler(handler)
        self._open[self._key(task_instance)] = (handler, stream)
        handler.emit(_record(f"Task {task_instance.task_id} started in process {os.getpid()} (eventpipe run)"))

    def _close(self, task_instance, state: str, error=None) -> None:
        handler, stream = self._open.pop(self._key(task_instance), (None, None))
        if handler is None:
            return
        if error is not None:
            handler.emit(_record(f"Task failed: {error}", logging.ERROR))
        handler.emit(_record(f"Task instance finished: {state}"))
        logging.getLogger().removeHandler(handler)
        stream.close()

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance) -> None:
        self._close(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
        self._close(task_instance, "failed", error)

    @hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance) -> None:
        self._close(task_instance, "skipped")

    def close_all(self) -> None:
        for handler, stream in self._open.values():
            logging.getLogger().removeHandler(handler)
            stream.close()
        self._open.clear()


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("eventpipe.local.task_logs", level, __file__, 0, message, None, None)


@contextmanager
def written_for_in_process_tasks():
    """Within the block, every task run in this process writes its log where the UI reads it."""
    from airflow.configuration import conf

    # Where Airflow 3.3 itself tells callers to take the masker from (its deprecated public alias points here).
    from airflow.sdk._shared.secrets_masker import redact
    from airflow.sdk.listener import get_listener_manager

    base = Path(conf.get("logging", "base_log_folder"))
    template = conf.get("logging", "log_filename_template", fallback=DEFAULT_TEMPLATE)
    listener = InProcessTaskLogs(base, template, lambda text: str(redact(text)))
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield listener
    finally:
        listener.close_all()
        manager.pm.unregister(listener)
