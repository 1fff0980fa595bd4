"""Cosmos configuration shared by every DAG that runs the dbt project (one place, imported by DAGs).

The project is rendered from ``dbt_project/target/manifest.json`` (built by ``make`` / ``eventpipe``
before Airflow starts), so importing a DAG never runs dbt.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from eventpipe import settings

DBT_PROJECT_DIR = settings.dbt_project_dir()
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
# A sensor pokes once the build is over (see run_producer_first); should it ever find no status yet
# (a producer still writing its last XCom), it looks again this soon, not after Cosmos' 10 s default.
SENSOR_POKE_INTERVAL_SECONDS = 1
# ... and gives up (the task fails) rather than poke for Airflow's default of 7 days.
SENSOR_TIMEOUT_SECONDS = 600
# Tests with this tag run in CI (`make test`), not in the hourly build.
CI_ONLY_TAG = "ci_only"
# A build that has not finished in this long has hung (an hourly one takes one to two minutes): it fails
# and is retried, rather than hold its run, and every build queued behind it, for ever.
BUILD_TIMEOUT = timedelta(minutes=45)


def dbt_target() -> str:
    """``EVENTPIPE_DBT_TARGET``: ``duckdb`` (embedded, default) or ``snowflake``."""
    return os.environ.get("EVENTPIPE_DBT_TARGET", "duckdb")


project_config = ProjectConfig(
    dbt_project_path=DBT_PROJECT_DIR,
    manifest_path=MANIFEST_PATH,
    project_name="eventpipe",
)

profile_config = ProfileConfig(
    profile_name="eventpipe",
    target_name=dbt_target(),
    profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
)

# Watcher mode: one `dbt build` (a producer task) builds the whole project in dependency order, and
# one sensor task per model reports that model's outcome, so the UI keeps a task per model while a
# run pays dbt's start-up once instead of once per model.
execution_config = ExecutionConfig(
    execution_mode=ExecutionMode.WATCHER,
    invocation_mode=InvocationMode.DBT_RUNNER,
)

# Each model is a task, followed by a task for its tests (both report on the one `dbt build`).
render_config = RenderConfig(
    load_method=LoadMode.DBT_MANIFEST,
    test_behavior=TestBehavior.AFTER_EACH,
    # Unit tests and exhaustive column checks run in CI (`make test`), not in every hourly build.
    # The semantic layer's time spine is a calendar, built once per warehouse (dbt_project/README.md), not hourly.
    exclude=[f"tag:{CI_ONLY_TAG}", "tag:time_spine"],
    # Cosmos would name each model's Asset after the engine and this machine's DuckDB path; the model tasks
    # declare eventpipe:// Assets instead (eventpipe.orchestrate.lineage.declare_model_assets).
    emit_datasets=False,
)


def dbt_cache_dir() -> Path:
    """Where the producer keeps dbt's ``partial_parse.msgpack`` between runs (under ``EVENTPIPE_HOME``).

    Cosmos runs dbt in a fresh copy of the project each time; without a cache directory it finds no
    saved manifest there and parses the whole project on every run (``AIRFLOW__COSMOS__ENABLE_CACHE``
    is off: the DAG renders from the manifest, so Cosmos' own cache has nothing else to do). Only a
    path: nothing is created at import time.
    """
    return settings.eventpipe_home() / "dbt_cache" / "event_pipeline"


def use_transformer_identity(context) -> None:
    """Before a dbt task runs on the ``snowflake`` target: dbt signs in as the transformer (the Connection
    ``snowflake_transformer``, else ``snowflake_default``, else the ``SNOWFLAKE_*`` variables already set), through
    the variables ``profiles.yml`` reads, set in this task's own process."""
    if dbt_target() != "snowflake":
        return
    from eventpipe.warehouse.connections import TRANSFORMER, dbt_environ

    os.environ.update(dbt_environ(TRANSFORMER))


def marts_task_group(group_id: str = "dbt_marts"):
    """The dbt project as a task group of the DAG being defined: one ``dbt build`` (the producer) first, a task per
    model and one per model's tests reporting on it, each model's task declaring its ``eventpipe://`` asset."""
    from cosmos import DbtTaskGroup

    from eventpipe.orchestrate.lineage import declare_model_assets

    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=render_config,
        operator_args={"install_deps": False, "on_execute_callback": use_transformer_identity},
    )
    run_producer_first(group)
    declare_model_assets(group)
    return group


def run_producer_first(group) -> None:
    """Put the watcher producer (the one ``dbt build``) upstream of the group's root model tasks.

    Cosmos does this for a ``DbtDag`` but not for a ``DbtTaskGroup``. Without it a model's sensor
    can be picked before the producer, and where tasks run one at a time (``dag.test()``, a single
    worker slot) it waits forever for a build that never starts. ``trigger_rule="all_done"`` (not
    Cosmos' "always", which ignores the producer altogether) keeps the sensors running after a failed
    build, so each model still reports its own outcome.

    Re-runs stay one build (``eventpipe.orchestrate.watcher_rerun``): the producer builds again when a Clear (or a
    retry) runs it again, where Cosmos' skips itself, and a model's task re-run by the same Clear
    reports that build instead of running its model with dbt on its own.
    """
    from cosmos.constants import PRODUCER_WATCHER_DONE_TASK_ID, PRODUCER_WATCHER_TASK_ID

    from eventpipe.orchestrate.watcher_rerun import rebuild_on_rerun

    prefix = f"{group.group_id}."
    tasks = {task.task_id: task for task in group}  # every task in the group, nested groups included
    rebuild_on_rerun(tasks.values())
    producer = tasks[prefix + PRODUCER_WATCHER_TASK_ID]
    # The build runs even when an upstream task failed: the sensors wait for a producer that has
    # finished, and one that never ran (upstream_failed) would leave them waiting forever.
    # Re-building marts over what raw already holds is harmless; the run still fails.
    producer.trigger_rule = "all_done"
    # One build at a time, whatever run (hour, backfill, Clear) it belongs to: loads of several hours run
    # at once, but every build reads the marts' one watermark and absorbs everything loaded since, so a
    # second build beside it would redo the same keys and contend for the same tables (Snowflake queues DML
    # on a table; the emulator's DuckDB aborts the second writer's transaction, then the build hangs).
    producer.max_active_tis_per_dag = 1
    producer.execution_timeout = BUILD_TIMEOUT
    # dbt's partial parse across runs (see dbt_cache_dir); Cosmos copies the newer of this and the
    # project's own target/partial_parse.msgpack into its working copy, and saves the result back.
    producer.cache_dir = dbt_cache_dir()
    members = set(tasks) - {producer.task_id, prefix + PRODUCER_WATCHER_DONE_TASK_ID}
    for task_id in members:
        task = tasks[task_id]
        if not set(task.upstream_task_ids) & members:
            producer >> task
            task.trigger_rule = "all_done"
    _watch_hourly_tests_only(group, producer)
    for task_id in members:
        task = tasks[task_id]
        model = getattr(task, "model_unique_id", None)
        if not hasattr(task, "poke") or model is None:
            continue
        # No hourly test of this model runs (all its tests are CI-only): there is no outcome to read,
        # and the task succeeds once the build has (eventpipe.orchestrate.watcher_rerun), without deferring.
        task.expects_no_outcome = getattr(task, "is_test_sensor", False) and not producer.tests_per_model.get(model)
        # Every sensor runs after the build has finished (above), so its first poke finds the
        # model's outcome: poking in place costs one task start; deferring costs two and a trip
        # through the triggerer. Nothing is left to wait for, so nothing holds a worker slot.
        task.deferrable = False
        task.poke_interval = SENSOR_POKE_INTERVAL_SECONDS
        task.timeout = SENSOR_TIMEOUT_SECONDS


def _watch_hourly_tests_only(group, producer) -> None:
    """Count, per model, only the tests the hourly build runs (not the ``ci_only`` ones).

    Cosmos lists every test of a model in the manifest, excluded ones included, and reports a model's
    tests (its ``.test`` task) only once all of them have a result: with CI-only tests never run, the
    report never came and each ``.test`` task passed as "not run" whatever its tests did.
    """
    nodes = group.dbt_graph.nodes
    hourly = {}
    for model, tests in producer.tests_per_model.items():
        kept = [test for test in tests if test in nodes and CI_ONLY_TAG not in _tags(nodes[test])]
        if kept:
            hourly[model] = kept
    producer.tests_per_model = hourly


def _tags(node) -> set[str]:
    # Cosmos fills DbtNode.tags for models only; a test's tags are in its config.
    return {*node.tags, *(node.config.get("tags") or [])}
