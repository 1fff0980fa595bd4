"""Where local state lives, from the environment. Read at call time, never at import."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def eventpipe_home() -> Path:
    """``EVENTPIPE_HOME``, default ``.eventpipe/`` in the checkout. An empty folder is a fresh environment."""
    return Path(os.environ.get("EVENTPIPE_HOME") or REPO_ROOT / ".eventpipe").resolve()


def landing_url() -> str:
    """The landing zone: ``EVENTPIPE_LANDING`` (a directory or ``s3://bucket/prefix``).

    Default: ``$EVENTPIPE_HOME/landing``.
    """
    return os.environ.get("EVENTPIPE_LANDING") or str(eventpipe_home() / "landing")


def warehouse_path() -> Path:
    return eventpipe_home() / "warehouse.duckdb"


def airflow_home() -> Path:
    return eventpipe_home() / "airflow"


def duckdb_memory_limit() -> str:
    """``EVENTPIPE_DUCKDB_MEMORY_LIMIT``: DuckDB's memory in any one task (default 600MB); past it, DuckDB spills to
    its temp directory. It is most of a task's peak RSS: with 600MB, every task stays under 1 GB on a 4.5M-line hour
    (bench/task_memory.py; the load then takes about 15% longer than with 2GB, which peaks at 2.3 GB)."""
    return os.environ.get("EVENTPIPE_DUCKDB_MEMORY_LIMIT", "600MB")


def dbt_project_dir() -> Path:
    return REPO_ROOT / "dbt_project"


def load_group_bytes() -> int:
    """Stored (compressed) bytes of landing files loaded per transaction: bounds the loader's memory.

    32 MiB of gzip NDJSON is about 280k lines: its staged table stays well inside DuckDB's default memory
    limit, so a load never spills, and peak RSS stays near 1.4 GB however large the hour (bench/ingest.py)."""
    return int(os.environ.get("EVENTPIPE_LOAD_GROUP_BYTES", 32 * 1024 * 1024))


def load_lookback_hours() -> int:
    """``EVENTPIPE_LOAD_LOOKBACK_HOURS``: how many closed arrival hours a continuous load lists besides the current
    one (default 48): a file landing late into an older hour's folder loads by ``eventpipe run --start --end``."""
    hours = int(os.environ.get("EVENTPIPE_LOAD_LOOKBACK_HOURS", "48"))
    if hours < 0:
        raise ValueError("EVENTPIPE_LOAD_LOOKBACK_HOURS must be at least 0")
    return hours


def load_run_budget() -> tuple[int, int]:
    """``(EVENTPIPE_LOAD_MAX_FILES, EVENTPIPE_LOAD_MAX_BYTES)``: what one run of the continuous load takes at most
    (defaults 2,000 files, 256 MiB of stored bytes: about 2M lines, well under a minute); the rest is the next
    run's, so a backlog flows through in bounded runs and memory (a group's, ``EVENTPIPE_LOAD_GROUP_BYTES``)."""
    files = int(os.environ.get("EVENTPIPE_LOAD_MAX_FILES", "2000"))
    size = int(os.environ.get("EVENTPIPE_LOAD_MAX_BYTES", 256 * 1024 * 1024))
    if files < 1 or size < 1:
        raise ValueError("EVENTPIPE_LOAD_MAX_FILES and EVENTPIPE_LOAD_MAX_BYTES must be at least 1")
    return files, size


def replay_page() -> tuple[int, int]:
    """``(EVENTPIPE_REPLAY_PAGE_LINES, EVENTPIPE_REPLAY_PAGE_BYTES)``: how many quarantined lines, and how many of
    their bytes, a replay reads, validates and loads at once (one commit), which bounds its memory (defaults 10,000
    and 32 MiB, a load group's order of size; a single line over the byte bound is a page of its own)."""
    lines = int(os.environ.get("EVENTPIPE_REPLAY_PAGE_LINES", 10_000))
    size = int(os.environ.get("EVENTPIPE_REPLAY_PAGE_BYTES", 32 * 1024 * 1024))
    if lines < 1 or size < 1:
        raise ValueError("EVENTPIPE_REPLAY_PAGE_LINES and EVENTPIPE_REPLAY_PAGE_BYTES must be at least 1")
    return lines, size


def delivery_chunk_events() -> int:
    """``EVENTPIPE_DELIVERY_CHUNK_EVENTS``: events a delivery reads from the warehouse at once (default 5,000). With
    the parts in flight (a destination's ``max_in_flight``), what bounds a delivery's memory, however large the
    commit or the hour."""
    value = int(os.environ.get("EVENTPIPE_DELIVERY_CHUNK_EVENTS", "5000"))
    if value < 1:
        raise ValueError("EVENTPIPE_DELIVERY_CHUNK_EVENTS must be at least 1")
    return value


def warehouse_target() -> str:
    """``EVENTPIPE_TARGET``: ``duckdb`` (the embedded warehouse, default) or ``snowflake``.

    ``eventpipe run --target snowflake-emulator`` sets ``snowflake`` and points the connection at the emulator.
    """
    target = os.environ.get("EVENTPIPE_TARGET", "duckdb")
    if target not in ("duckdb", "snowflake"):
        raise ValueError(f"EVENTPIPE_TARGET must be duckdb or snowflake, not {target!r}")
    return target


def snowflake_conn_id() -> str:
    """The shared Airflow Connection a Snowflake job falls back to when its own (``snowflake_<job>``) is not defined
    (``eventpipe.warehouse.connections``); credentials never in a file of the repo."""
    return os.environ.get("EVENTPIPE_SNOWFLAKE_CONN_ID", "snowflake_default")


def max_line_bytes() -> int:
    """``EVENTPIPE_MAX_LINE_BYTES``: a longer line is quarantined ``line_too_long`` (default 16 MiB,
    Snowflake's classic VARIANT limit); the reader keeps only a prefix, a hash and the length of it."""
    return int(os.environ.get("EVENTPIPE_MAX_LINE_BYTES", 16 * 1024 * 1024))


def max_json_depth() -> int:
    """``EVENTPIPE_MAX_JSON_DEPTH``: JSON nested deeper is quarantined ``too_deeply_nested`` (default 64)."""
    return int(os.environ.get("EVENTPIPE_MAX_JSON_DEPTH", 64))


def pipeline_concurrency() -> tuple[int, int]:
    """``(max_active_runs, max_active_tasks)`` of ``event_pipeline``, from the warehouse target.

    The embedded DuckDB takes one writer process at a time: one run, one task. Snowflake loads and builds
    several hours at once (each load has its own load tables and stage folder, the merge step a lease;
    ``eventpipe.warehouse.snowflake_engine``): ``EVENTPIPE_MAX_ACTIVE_RUNS`` (default 4) and
    ``EVENTPIPE_MAX_ACTIVE_TASKS`` (default 8).
    """
    if warehouse_target() == "duckdb":
        return 1, 1
    runs = int(os.environ.get("EVENTPIPE_MAX_ACTIVE_RUNS", "4"))
    tasks = int(os.environ.get("EVENTPIPE_MAX_ACTIVE_TASKS", "8"))
    if runs < 1 or tasks < 1:
        raise ValueError("EVENTPIPE_MAX_ACTIVE_RUNS and EVENTPIPE_MAX_ACTIVE_TASKS must be at least 1")
    return runs, tasks


def landing_queue() -> str | None:
    """``EVENTPIPE_LANDING_QUEUE``: the URL of the SQS queue the landing bucket's ``s3:ObjectCreated:*``
    notifications go to. Set, ``load_events`` also runs when a notification arrives (an Airflow ``AssetWatcher``,
    ``eventpipe.orchestrate.landing_events``) and its cron becomes the sweep; unset (the default), it polls."""
    return os.environ.get("EVENTPIPE_LANDING_QUEUE") or None


def landing_queue_conn_id() -> str:
    """``EVENTPIPE_LANDING_QUEUE_CONN_ID``: the Airflow Connection (type ``aws``) the triggerer reads the queue with
    (default ``aws_default``; an ``endpoint_url`` in its extra points it at an emulator)."""
    return os.environ.get("EVENTPIPE_LANDING_QUEUE_CONN_ID", "aws_default")


def load_sweep_schedule() -> str:
    """``EVENTPIPE_LOAD_SWEEP_SCHEDULE``: with ``EVENTPIPE_LANDING_QUEUE``, the cron on which ``load_events`` lists
    the landing zone even without a notification (default every 5 minutes): a lost notification's file loads then."""
    return os.environ.get("EVENTPIPE_LOAD_SWEEP_SCHEDULE", "*/5 * * * *")


def load_schedule() -> str:
    """``EVENTPIPE_LOAD_SCHEDULE``: the cron of ``load_events`` (default every minute)."""
    return os.environ.get("EVENTPIPE_LOAD_SCHEDULE", "* * * * *")


def sweep_schedule() -> str:
    """``EVENTPIPE_SWEEP_SCHEDULE``: the cron on which ``deliver_events`` and ``transform`` run even without a load's
    asset event (default every 5 minutes): an event missed or queued behind a running run is taken by the sweep."""
    return os.environ.get("EVENTPIPE_SWEEP_SCHEDULE", "*/5 * * * *")


def lag_sla() -> timedelta:
    """``EVENTPIPE_LAG_SLA_MINUTES``: how far behind a stage may be before ``pipeline_lag`` fails (default 15)."""
    minutes = float(os.environ.get("EVENTPIPE_LAG_SLA_MINUTES", "15"))
    if minutes <= 0:
        raise ValueError("EVENTPIPE_LAG_SLA_MINUTES must be positive")
    return timedelta(minutes=minutes)
