"""Airflow Connections built from one environment variable per field, so that a secret holding any character
(``"``, ``\\``, ``@``, ``:``, ``/``, ``%``, a newline) reaches the hook byte for byte.

``AIRFLOW_CONN_<ID>`` wants one string, a URI or JSON, and docker compose can only paste ``.env`` values into it
unescaped: a ``"`` in a password ends the JSON string, an ``@`` in a URI moves the host. Here each field is its
own variable and this backend serializes them with ``json.dumps``, so nothing is ever parsed out of a secret::

    EVENTPIPE_CONN_SNOWFLAKE_LOADER__CONN_TYPE=snowflake
    EVENTPIPE_CONN_SNOWFLAKE_LOADER__LOGIN=LOADER
    EVENTPIPE_CONN_SNOWFLAKE_LOADER__PASSWORD=<anything>
    EVENTPIPE_CONN_SNOWFLAKE_LOADER__EXTRA__ACCOUNT=xy12345     # -> extra {"account": "xy12345"}

Fields: ``CONN_TYPE`` (required: without it the Connection is not defined here), ``HOST``, ``LOGIN``,
``PASSWORD``, ``SCHEMA``, ``PORT`` and ``EXTRA__<KEY>`` (the key lower-cased). An empty variable counts as unset,
as compose passes ``${VAR}`` of an unset variable as "". docker-compose.yml turns it on with
``AIRFLOW__SECRETS__BACKEND=eventpipe.orchestrate.env_connections.FieldEnvSecretsBackend``; Airflow asks it before
``AIRFLOW_CONN_*`` and the metadata database (docs/production.md, "Authentication, roles and secrets").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from airflow.secrets import BaseSecretsBackend

PREFIX = "EVENTPIPE_CONN_"
FIELDS = ("CONN_TYPE", "HOST", "LOGIN", "PASSWORD", "SCHEMA", "PORT")
EXTRA = "EXTRA__"


def connection_fields(conn_id: str, environ: Mapping[str, str]) -> dict | None:
    """The Connection ``conn_id`` as Airflow's JSON form (a dict), from ``environ``; None if it has no conn type."""
    if "__" in conn_id:
        return None  # "__" separates the id from the field: such an id cannot be named unambiguously
    head = f"{PREFIX}{conn_id.upper()}__"
    values = {name.removeprefix(head): value for name, value in environ.items() if name.startswith(head) and value}
    if not values.get("CONN_TYPE"):
        return None
    fields: dict = {field.lower(): values[field] for field in FIELDS if field in values}
    if "port" in fields:
        fields["port"] = int(fields["port"])
    extra = {name.removeprefix(EXTRA).lower(): value for name, value in values.items() if name.startswith(EXTRA)}
    if extra:
        fields["extra"] = extra
    return fields


class FieldEnvSecretsBackend(BaseSecretsBackend):
    """Connections from ``EVENTPIPE_CONN_<ID>__<FIELD>`` variables; no Variables, no config."""

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        fields = connection_fields(conn_id, os.environ)
        return None if fields is None else json.dumps(fields)

    def get_variable(self, key: str, team_name: str | None = None) -> str | None:
        return None
