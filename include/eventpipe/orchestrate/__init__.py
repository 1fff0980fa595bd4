"""Airflow glue: the environment, assets, lineage, dbt through Cosmos, task logs, runs."""
