"""Re-runs of the dbt task group that stay one ``dbt build`` (Cosmos watcher mode).

Cosmos' watcher producer runs ``dbt build`` on its first try only: on any later try it skips itself
("does not support Airflow retries"), and a model's task on a later try, or with a skipped producer,
runs its own model (or its tests) with dbt. A Clear raises every cleared task's try number, so
clearing ``load_raw_events`` with Downstream (re-running an hour) turned the one build into a dbt
start-up per model and per model's tests: a run of about a minute took over three.

Here, installed on a rendered ``DbtTaskGroup`` by :func:`rebuild_on_rerun`:

- the **producer builds on every try** (a Clear, or a retry after a failed build) and records which
  Clear of the DAG run the build belongs to (the run's ``clear_number``, in XCom ``BUILD_XCOM_KEY``);
- a **model's task** (and its ``.test`` task) reports that build's outcome when the producer built in
  the same Clear that re-ran the task, on the task's first try of that Clear: clearing the hour, the
  dbt group or the producer with Downstream costs one build again;
- otherwise it does what Cosmos does: runs its own model with dbt. That is the case when the task was
  cleared without the producer (one model re-run on its own, which is quick), or when it retries after
  its model failed in the build.

Each decision is logged in the task's log, so a data engineer sees where a model's outcome came from.
"""

from __future__ import annotations

import logging
from typing import Any

from cosmos.operators.watcher import (
    DbtProducerWatcherOperator,
    DbtRunWatcherOperator,
    DbtSeedWatcherOperator,
    DbtSnapshotWatcherOperator,
    DbtSourceWatcherOperator,
    DbtTestWatcherOperator,
)

log = logging.getLogger(__name__)

# The producer's XCom naming the Clear its build belongs to: {"clear_number": n, "try_number": t}.
BUILD_XCOM_KEY = "eventpipe_build"
# What a model's task logs when it reports the build, and when it runs its own model instead.
REPORTS_BUILD = "reports the dbt build of this clear"
RUNS_ITS_OWN = "runs its own dbt command"


def _clear_number(context: Any) -> int:
    return getattr(context.get("dag_run"), "clear_number", None) or 0


class RebuildingProducerWatcherOperator(DbtProducerWatcherOperator):
    """Cosmos' watcher producer that runs ``dbt build`` on every try, not only the first."""

    def execute(self, context: Any, **kwargs: Any) -> Any:
        ti = context["ti"]
        ti.xcom_push(key=BUILD_XCOM_KEY, value={"clear_number": _clear_number(context), "try_number": ti.try_number})
        if ti.try_number <= 1:
            return super().execute(context, **kwargs)
        log.info(
            "Try %s of the dbt build (clear #%s of this run): building again, so each model's task reports this build",
            ti.try_number,
            _clear_number(context),
        )
        # Cosmos skips any try but the first; this one is a build like the first.
        actual = ti.try_number
        ti.try_number = 1
        try:
            return super().execute(context, **kwargs)
        finally:
            ti.try_number = actual


class _ReportsRebuilds:
    """For a watcher sensor: on a later try, report the producer's build when it was built for this try."""

    def _handle_retry(self, try_number: int, producer_task_state: str | None, context: Any) -> bool | None:
        if self._producer_built_for_this_try(context):
            log.info(
                "Try %s: %s '%s' %s (the producer built again in clear #%s of this run)",
                try_number,
                "tests of" if self.is_test_sensor else "model",
                self.model_unique_id,
                REPORTS_BUILD,
                _clear_number(context),
            )
            return None  # read the build's outcome from XCom, as on a first try
        log.info(
            "Try %s: %s '%s' %s (cleared without the producer, or a retry of this task)",
            try_number,
            "tests of" if self.is_test_sensor else "model",
            self.model_unique_id,
            RUNS_ITS_OWN,
        )
        return super()._handle_retry(try_number, producer_task_state, context)

    def _handle_no_dbt_node_status(self, producer_task_state: str | None, try_number: int, context: Any) -> bool:
        # A .test task of a model none of whose tests the build runs (all CI-only) has nothing to report:
        # done once the build has succeeded. (Cosmos polls for it, and only its deferred trigger resolves
        # "not run"; a deferral that resumes at once lost a race in Airflow's LocalExecutor under load,
        # the finished deferral's event failing the resumed try, which then retried.)
        if getattr(self, "expects_no_outcome", False) and producer_task_state == "success":
            log.info("No test of model '%s' runs in the hourly build: nothing to report", self.model_unique_id)
            return True
        return super()._handle_no_dbt_node_status(producer_task_state, try_number, context)

    def _producer_built_for_this_try(self, context: Any) -> bool:
        ti = context["ti"]
        # A Clear sets max_tries to the last try plus the task's retries: this try is the Clear's first
        # (not a retry of this task) when it is the one right after that last try.
        first_try_of_this_clear = ti.try_number == ti.max_tries - (self.retries or 0) + 1
        if not first_try_of_this_clear:
            return False
        build = ti.xcom_pull(task_ids=self.producer_task_id, key=BUILD_XCOM_KEY)
        return isinstance(build, dict) and build.get("clear_number") == _clear_number(context)


class RerunRunWatcherOperator(_ReportsRebuilds, DbtRunWatcherOperator):
    """A model's task: reports the model's outcome in the build (see the module's docstring)."""


class RerunTestWatcherOperator(_ReportsRebuilds, DbtTestWatcherOperator):
    """A model's ``.test`` task: reports its tests' outcome in the build."""


class RerunSeedWatcherOperator(_ReportsRebuilds, DbtSeedWatcherOperator):
    """A seed's task."""


class RerunSnapshotWatcherOperator(_ReportsRebuilds, DbtSnapshotWatcherOperator):
    """A snapshot's task."""


class RerunSourceWatcherOperator(_ReportsRebuilds, DbtSourceWatcherOperator):
    """A source's freshness task."""


_REPLACEMENTS = {
    DbtProducerWatcherOperator: RebuildingProducerWatcherOperator,
    DbtRunWatcherOperator: RerunRunWatcherOperator,
    DbtTestWatcherOperator: RerunTestWatcherOperator,
    DbtSeedWatcherOperator: RerunSeedWatcherOperator,
    DbtSnapshotWatcherOperator: RerunSnapshotWatcherOperator,
    DbtSourceWatcherOperator: RerunSourceWatcherOperator,
}


def rebuild_on_rerun(tasks) -> None:
    """Give the group's producer and sensors the behaviour above (each keeps its task id and settings).

    Cosmos builds the tasks from class names of its own, so they are converted in place: the
    replacement classes only add behaviour (no attribute of their own), and a DAG file parsed by a
    worker converts them again. A watcher class with no replacement here stops the DAG from loading
    rather than silently falling back to a dbt run per model on every re-run.
    """
    for task in tasks:
        cls = type(task)
        if cls in _REPLACEMENTS:
            task.__class__ = _REPLACEMENTS[cls]
        elif cls.__module__ == DbtRunWatcherOperator.__module__ and cls not in _REPLACEMENTS.values():
            raise TypeError(f"{task.task_id}: no re-run behaviour for the watcher class {cls.__name__}")
