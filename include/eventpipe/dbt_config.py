"""Cosmos configuration shared by every DAG that runs the dbt project (one place, imported by DAGs).

The project is rendered from ``dbt_project/target/manifest.json`` (built by ``make`` / ``eventpipe``
before Airflow starts), so importing a DAG never runs dbt.
"""

from __future__ import annotations

import os

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from eventpipe import settings

DBT_PROJECT_DIR = settings.dbt_project_dir()
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_target() -> str:
    """``EVENTPIPE_DBT_TARGET``: ``dev`` (embedded DuckDB, default) or ``snowflake``."""
    return os.environ.get("EVENTPIPE_DBT_TARGET", "dev")


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
    exclude=["tag:ci_only"],
    emit_datasets=True,
)


def run_producer_first(group) -> None:
    """Put the watcher producer (the one ``dbt build``) upstream of the group's root model tasks.

    Cosmos does this for a ``DbtDag`` but not for a ``DbtTaskGroup``. Without it a model's sensor
    can be picked before the producer, and where tasks run one at a time (``dag.test()``, a single
    worker slot) it waits forever for a build that never starts. ``trigger_rule="all_done"`` (not
    Cosmos' "always", which ignores the producer altogether) keeps the sensors running after a failed
    build, so each model still reports its own outcome.
    """
    from cosmos.constants import PRODUCER_WATCHER_DONE_TASK_ID, PRODUCER_WATCHER_TASK_ID

    prefix = f"{group.group_id}."
    tasks = {task.task_id: task for task in group}  # every task in the group, nested groups included
    producer = tasks[prefix + PRODUCER_WATCHER_TASK_ID]
    # The build runs even when an upstream task failed: the sensors wait for a producer that has
    # finished, and one that never ran (upstream_failed) would leave them waiting forever.
    # Re-building marts over what raw already holds is harmless; the run still fails.
    producer.trigger_rule = "all_done"
    members = set(tasks) - {producer.task_id, prefix + PRODUCER_WATCHER_DONE_TASK_ID}
    for task_id in members:
        task = tasks[task_id]
        if not set(task.upstream_task_ids) & members:
            producer >> task
            task.trigger_rule = "all_done"
