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

# dbt runs in this process through dbtRunner: no new interpreter per model.
execution_config = ExecutionConfig(
    execution_mode=ExecutionMode.LOCAL,
    invocation_mode=InvocationMode.DBT_RUNNER,
)

# Each model is one task that builds it and then runs its tests ("dbt build --select model").
render_config = RenderConfig(
    load_method=LoadMode.DBT_MANIFEST,
    test_behavior=TestBehavior.BUILD,
    emit_datasets=True,
)
