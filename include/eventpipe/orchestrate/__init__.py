"""Airflow glue: the Airflow environment, assets and lineage, dbt through Cosmos (dbt_config, watcher_rerun), run
outcomes, the Celery workers' settings; and the deployment's: Connections from one variable per field
(env_connections), the metadata and broker URLs (service_urls), who may use the Activity Explorer
(explorer_access), the compose stack's S3 setup (s3_setup)."""
