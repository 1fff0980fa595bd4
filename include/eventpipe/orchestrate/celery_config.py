"""Celery settings of eventpipe's Airflow workers (``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``).

Airflow's defaults, plus the modules every task of the DAGs imports, imported once when a worker starts
(Celery's ``imports``, loaded before the worker forks its pool). Airflow runs each task in a process
forked from a pool process, so a task inherits them instead of importing Airflow's task runner, Cosmos,
dbt, the Snowflake connector and boto3 again: measured on the shared 2-core machine, a model's task spent
about 12 of its 14 seconds starting up (importing, then parsing the DAG file), and an hourly run has 27
tasks. Importing creates no connection, thread or file, so forking after it is safe.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

# What a task's process imports before and while it runs, heaviest first.
PRELOADED_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.openlineage.plugins.listener",
    "cosmos",
    "cosmos.converter",
    "cosmos.operators.watcher",
    "dbt.cli.main",
    "snowflake.connector",
    "boto3",
    "duckdb",
    "eventpipe.orchestrate.dbt_config",
    "eventpipe.orchestrate.lineage",
    "eventpipe.orchestrate.watcher_rerun",
    "eventpipe.ingest.load",
    "eventpipe.ingest.reconcile",
    "eventpipe.deliver.run",
    "eventpipe.warehouse.snowflake_engine",
)

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": PRELOADED_MODULES}
