"""A line per run of the continuous DAGs as ``eventpipe run`` / ``eventpipe demo`` catch a range up (in process or
through the scheduler that is up), or a progress bar over the hourly runs of event_pipeline (``--hourly``)."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eventpipe import settings
from eventpipe.local import runner


def run_with_progress(start: datetime, end: datetime) -> list[datetime]:
    """Run every hour in ``[start, end)``; returns the intervals whose DAG run did not succeed."""
    intervals = runner.hourly_intervals(start, end)
    console = Console(stderr=True)
    failed: list[datetime] = []
    with Progress(
        TextColumn("[bold]event_pipeline[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("preparing Airflow", total=len(intervals))

        def on_interval(interval_start: datetime, state: str) -> None:
            if state != "success":
                failed.append(interval_start)
                progress.console.print(f"[red]{interval_start:%Y-%m-%dT%H}:00 {state}[/red]")
            progress.update(bar, advance=1, description=f"{interval_start:%Y-%m-%dT%H}:00 {state}")

        # dag.test() logs every task at length; the bar says what matters and the task logs go to a file.
        log_path = settings.eventpipe_home() / "logs" / f"run-{datetime.now():%Y%m%dT%H%M%S}.log"
        with _logs_to(log_path):
            runner.run_intervals(start, end, on_interval=on_interval)
    if failed:
        console.print(f"[red]{len(failed)} interval(s) failed[/red]; task logs: {log_path}")
    return failed


def catch_up_with_progress(start: datetime, end: datetime) -> list[str]:
    """Catch ``[start, end)`` up through the continuous DAGs; returns the runs that did not succeed (or why the
    catch-up stopped)."""
    from eventpipe.local import catchup
    from eventpipe.local.airflow_api import AirflowApiError
    from eventpipe.local.backfill import SchedulerGone
    from eventpipe.local.scheduled import CatchUpFailed

    console = Console(stderr=True, soft_wrap=True)  # a line per run or message, whole: the terminal wraps it
    failed: list[str] = []
    started = time.monotonic()

    def on_run(outcome) -> None:
        colour = "green" if outcome.state == "success" else "red"
        console.print(f"{time.monotonic() - started:6.0f} s  {outcome.dag_id:<15} [{colour}]{outcome.state}[/{colour}]")
        if outcome.state != "success":
            failed.append(f"{outcome.dag_id} {outcome.run_id}")

    def on_path(path: str) -> None:
        console.print(f"catching up {start:%Y-%m-%dT%H}:00 to {end:%Y-%m-%dT%H}:00 through the continuous DAGs, {path}")

    log_path = settings.eventpipe_home() / "logs" / f"run-{datetime.now():%Y%m%dT%H%M%S}.log"
    try:
        with _logs_to(log_path):
            catchup.catch_up(start, end, on_run=on_run, on_path=on_path)
    except (CatchUpFailed, AirflowApiError, SchedulerGone) as error:
        console.print(f"[red]catch-up stopped[/red]: {error}")
        return [*failed, str(error)]
    if failed:
        console.print(f"[red]{len(failed)} run(s) failed[/red]: {', '.join(failed)}; task logs: {log_path}")
    return failed


@contextlib.contextmanager
def _logs_to(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers, root.level = [handler], logging.INFO
    try:
        with open(path, "a") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        handler.close()
