"""Airflow glue: the Airflow environment, assets and lineage, dbt through Cosmos (dbt_config, watcher_rerun), run
outcomes, the Celery workers' settings."""
