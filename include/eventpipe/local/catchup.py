"""A catch-up of a range of arrival hours through the continuous DAGs (``eventpipe run``, ``eventpipe demo``).

With a scheduler up on the metadata database (``eventpipe up``, a deployment), it is handed to that scheduler over
the REST API (``eventpipe.local.scheduled``). With none (the embedded default), it runs in this process: the same
DAGs a scheduler runs, each run a real DAG run in the metadata database (the UI shows them), in the order the asset
events would wake them:

1. ``load_events`` with the range as its ``start`` / ``end``, again while the ledger says the range holds files it
   has not seen (each run takes a bounded amount: ``EVENTPIPE_LOAD_MAX_FILES`` / ``_BYTES``);
2. ``deliver_events``, again while a destination has a load commit it has not received (each run sends at most
   ``EVENTPIPE_DELIVERY_MAX_EVENTS`` per destination);
3. ``transform``: one dbt build absorbing every commit;
4. ``hourly_checks`` over the range: every hour reconciled whole and its volume checked.

So a month costs a few bounded loads, a few deliveries and one build, not 720 runs of the whole chain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from eventpipe.local import backfill, runner, scheduled
from eventpipe.local.airflow_api import AirflowApi
from eventpipe.local.backlog import deliveries_waiting, files_waiting
from eventpipe.local.scheduled import CONTINUOUS, DagRunOutcome

__all__ = ["CONTINUOUS", "DagRunOutcome", "catch_up", "deliveries_waiting", "files_waiting"]

# A run that leaves work behind is followed by another, up to this many (a month of 10 MB files at the default
# budget is a few runs; a run that makes no progress stops the loop earlier).
MAX_RUNS = 500


def catch_up(
    start: datetime,
    end: datetime,
    on_run: Callable[[DagRunOutcome], None] | None = None,
    on_path: Callable[[str], None] | None = None,
) -> list[DagRunOutcome]:
    """Catch ``[start, end)`` up; ``on_run`` hears of each DAG run as it ends, ``on_path`` of who runs them.

    Through a live scheduler, a failed run raises ``scheduled.CatchUpFailed`` (``DagsPaused`` when the DAGs are
    paused there); in process, a failed run ends the catch-up and is among the outcomes.
    """
    import os

    runner.prepare()  # Airflow's environment first: Airflow reads it when imported

    if backfill.scheduler_is_alive():
        # It runs these DAGs (its DAG processor keeps them in the database): a catch-up in this process would race it
        # for the same ledger (and DuckDB's lock).
        api = AirflowApi.from_environment()
        if on_path:
            on_path(f"through the scheduler that is up (the runs are in the Airflow UI, {api.url})")
        return scheduled.catch_up(start, end, on_run=on_run, api=api)

    from airflow.dag_processing.dagbag import DagBag

    from eventpipe.devtools.receivers.local import local_receivers
    from eventpipe.local import task_logs

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if missing := [dag_id for dag_id in CONTINUOUS if dag_id not in bag.dags]:
        raise RuntimeError(f"DAGs {missing} did not load: {bag.import_errors}")
    dags = {dag_id: bag.dags[dag_id] for dag_id in CONTINUOUS}
    for dag in dags.values():
        backfill.sync_dag(dag)
    if on_path:
        on_path("in this process (no scheduler is up)")
    conf = {"start": start.isoformat(), "end": end.isoformat()}
    outcomes: list[DagRunOutcome] = []

    def run(dag_id: str, run_conf: dict | None = None) -> str:
        dag_run = dags[dag_id].test(run_conf=run_conf)
        outcome = DagRunOutcome(dag_id, dag_run.run_id, str(getattr(dag_run.state, "value", dag_run.state)))
        outcomes.append(outcome)
        if on_run:
            on_run(outcome)
        return outcome.state

    with local_receivers(), task_logs.written_for_in_process_tasks():
        _repeat(lambda: run("load_events", conf), lambda: files_waiting(start, end))
        _repeat(lambda: run("deliver_events"), deliveries_waiting)
        run("transform")
        run("hourly_checks", conf)
    return outcomes


def _repeat(run: Callable[[], str], waiting: Callable[[], int]) -> None:
    """Run, and again while work is left and the last run succeeded and made progress."""
    left = None
    for _ in range(MAX_RUNS):
        if run() != "success":
            return
        now_left = waiting()
        if now_left == 0 or now_left == left:
            return
        left = now_left
