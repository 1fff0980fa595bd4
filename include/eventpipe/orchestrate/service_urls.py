"""The URLs Airflow reaches its metadata database and Celery broker by, with the passwords percent-encoded.

docker compose cannot encode: ``postgresql://user:${POSTGRES_PASSWORD}@postgres/db`` breaks (or points elsewhere)
as soon as the password holds ``@``, ``/``, ``:`` or ``%``. So docker-compose.yml gives Airflow a command instead of
the URL (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD``, ``AIRFLOW__CELERY__BROKER_URL_CMD``,
``AIRFLOW__CELERY__RESULT_BACKEND_CMD``: Airflow runs it and reads the URL from its output), and this module builds
the URL from the plain variables, the user and password quoted. SQLAlchemy and kombu unquote them back, byte for byte::

    python -m eventpipe.orchestrate.service_urls database        # postgresql+psycopg2://...
    python -m eventpipe.orchestrate.service_urls result-backend  # db+postgresql://...
    python -m eventpipe.orchestrate.service_urls broker          # redis://:<password>@redis:6379/0

Reads ``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_DB``, ``POSTGRES_HOST``, ``REDIS_PASSWORD``,
``REDIS_HOST``, ``REDIS_PORT`` (6379). Standard library only: every Airflow process runs it once at start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from urllib.parse import quote


def _part(value: str) -> str:
    return quote(value, safe="")


def database_url(environ: Mapping[str, str], scheme: str = "postgresql+psycopg2") -> str:
    user, password = _part(environ["POSTGRES_USER"]), _part(environ["POSTGRES_PASSWORD"])
    # The database name as it is: SQLAlchemy does not unquote it (a plain identifier, such as "airflow").
    host, database = environ.get("POSTGRES_HOST", "postgres"), environ["POSTGRES_DB"]
    return f"{scheme}://{user}:{password}@{host}/{database}"


def broker_url(environ: Mapping[str, str]) -> str:
    host, port = environ.get("REDIS_HOST", "redis"), environ.get("REDIS_PORT", "6379")
    return f"redis://:{_part(environ['REDIS_PASSWORD'])}@{host}:{port}/0"


URLS = {
    "database": database_url,
    "result-backend": lambda environ: database_url(environ, scheme="db+postgresql"),
    "broker": broker_url,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in URLS:
        print(f"usage: python -m eventpipe.orchestrate.service_urls {{{'|'.join(URLS)}}}", file=sys.stderr)
        return 2
    try:
        url = URLS[args[0]](os.environ)
    except KeyError as missing:
        print(f"service_urls {args[0]}: the variable {missing} is not set", file=sys.stderr)
        return 1
    sys.stdout.write(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
