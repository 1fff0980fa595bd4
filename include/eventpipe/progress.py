"""A progress bar over the hourly DAG runs of ``eventpipe run`` / ``eventpipe demo``."""

from __future__ import annotations

import contextlib
import io
import logging
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eventpipe import runner


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

        # dag.test() logs every task at INFO; the bar says what matters, the task logs stay in Airflow.
        with _quiet():
            runner.run_intervals(start, end, on_interval=on_interval)
    return failed


@contextlib.contextmanager
def _quiet():
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.WARNING)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        root.setLevel(previous)
