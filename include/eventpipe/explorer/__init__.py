"""The Activity Explorer: journeys (sessions), one session's events and charts, read from the marts.

Testable without Airflow: ``create_app()`` builds the FastAPI app that ``plugins/activity_explorer.py``
mounts in the Airflow API server. Every query is a fixed .sql file (``sql/portable/explorer_*.sql``, both engines)
or a small WHERE / ORDER BY built from whitelisted column names, with values bound as parameters.
"""
