"""Connections to Snowflake, one identity per job: credentials from an Airflow Connection or ``SNOWFLAKE_*``
variables, never from a file.

Each job connects as its own role through its own Connection (``docs/production.md``, "Snowflake roles and
grants"):

========== =========================== ==========================================================
job        Connection                  who
========== =========================== ==========================================================
loader     ``snowflake_loader``        ingest / load, reconcile, replay, deliveries and their ledgers
transformer ``snowflake_transformer``  dbt's ``snowflake`` target
share      ``snowflake_share``         ``eventpipe share plan|apply``, the share_sync DAG
reader     ``snowflake_reader``        the Activity Explorer (and BI tools)
admin      ``snowflake_admin``         ``eventpipe grants apply`` (creates the roles, grants them)
========== =========================== ==========================================================

Precedence, the same for every job (one rule, logged once per job and process, never the secret):

1. the job's own Connection (``snowflake_<job>``), when it is defined;
2. else the shared Connection ``snowflake_default`` (``EVENTPIPE_SNOWFLAKE_CONN_ID`` names another), when it is
   defined: the embedded emulator and a one-identity setup define only this one;
3. else the ``SNOWFLAKE_*`` variables (account, user, password or private key), for a shell without Airflow
   Connections (``eventpipe share plan --target snowflake`` on a laptop, the opt-in real-account tests).

A Connection therefore always wins over ``SNOWFLAKE_*`` variables: a stray variable cannot make a job connect as
another identity than the one its Connection names.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from eventpipe import settings

log = logging.getLogger(__name__)

# Connection extras the provider's hook does not pass on, but a private-link host or the emulator needs.
ENDPOINT_EXTRAS = ("host", "port", "protocol")

LOADER, TRANSFORMER, SHARE, READER, ADMIN = "loader", "transformer", "share", "reader", "admin"
JOBS = (LOADER, TRANSFORMER, SHARE, READER, ADMIN)

CREDENTIALS_HELP = (
    "define the Airflow Connection snowflake_<job> (snowflake_loader, snowflake_transformer, snowflake_share,"
    " snowflake_reader, snowflake_admin) or snowflake_default (EVENTPIPE_SNOWFLAKE_CONN_ID names another);"
    " or set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY, a PEM key,"
    " with SNOWFLAKE_PRIVATE_KEY_PASSPHRASE if encrypted), optionally SNOWFLAKE_ROLE and SNOWFLAKE_WAREHOUSE"
)

_logged: set[tuple[str, str]] = set()
_logged_guard = threading.Lock()


class SnowflakeCredentialsError(ValueError):
    """No usable Snowflake credentials. The message says what to set, never a credential."""


def job_conn_id(job: str) -> str:
    """The Airflow Connection a job connects through when it is defined: ``snowflake_<job>``."""
    if job not in JOBS:
        raise ValueError(f"unknown Snowflake job {job!r}: one of {', '.join(JOBS)}")
    return f"snowflake_{job}"


def credentials_in_env() -> bool:
    env = os.environ
    return bool(env.get("SNOWFLAKE_ACCOUNT") and env.get("SNOWFLAKE_USER")) and bool(
        env.get("SNOWFLAKE_PASSWORD") or env.get("SNOWFLAKE_PRIVATE_KEY")
    )


def resolve_source(job: str) -> str:
    """Where ``job``'s credentials come from, by the precedence above: a Connection id, or ``"SNOWFLAKE_*"``.

    Logged once per job and process (the source's name only). Raises ``SnowflakeCredentialsError`` when none is
    usable."""
    for conn_id in dict.fromkeys((job_conn_id(job), settings.snowflake_conn_id())):
        if connection_defined(conn_id):
            _log_once(job, conn_id)
            return conn_id
    if credentials_in_env():
        _log_once(job, "SNOWFLAKE_*")
        return "SNOWFLAKE_*"
    raise SnowflakeCredentialsError(f"no Snowflake credentials for the {job}: {CREDENTIALS_HELP}")


def connection_defined(conn_id: str) -> bool:
    """Whether Airflow knows the Connection (environment, secrets backend or metadata database)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def _log_once(job: str, source: str) -> None:
    with _logged_guard:
        if (job, source) in _logged:
            return
        _logged.add((job, source))
    if source == "SNOWFLAKE_*":
        log.info("Snowflake %s: credentials from the SNOWFLAKE_* variables (no Airflow Connection defined)", job)
    elif source == job_conn_id(job):
        log.info("Snowflake %s: credentials from the Airflow Connection %s", job, source)
    else:
        log.info(
            "Snowflake %s: Airflow Connection %s is not defined; falling back to the Connection %s",
            job,
            job_conn_id(job),
            source,
        )


def connect_snowflake(job: str = LOADER, *, query_tag: str = "eventpipe"):
    """A snowflake-connector connection for ``job`` (loader, transformer, share or reader), from the source
    ``resolve_source`` picks.

    From a Connection, the Snowflake provider's hook turns it into connector arguments (account, user, password or
    key pair, role, warehouse, database, session parameters); host, port and protocol come from its extra.
    """
    from snowflake import connector

    source = resolve_source(job)
    if source == "SNOWFLAKE_*":
        return connector.connect(**_params_from_env(query_tag))
    from eventpipe.compat import snowflake_hook_conn_params

    params, extra = snowflake_hook_conn_params(source)
    params = dict(params)
    params.update({key: extra[key] for key in ENDPOINT_EXTRAS if extra.get(key)})
    params = {key: value for key, value in params.items() if value not in (None, "")}
    return connector.connect(**params)


# dbt's `snowflake` target (dbt_project/profiles.yml) reads these variables; the connector argument each comes from.
DBT_VARIABLES = {
    "SNOWFLAKE_ACCOUNT": "account",
    "SNOWFLAKE_USER": "user",
    "SNOWFLAKE_PASSWORD": "password",
    "SNOWFLAKE_ROLE": "role",
    "SNOWFLAKE_WAREHOUSE": "warehouse",
    "SNOWFLAKE_DATABASE": "database",
}


def dbt_environ(job: str = TRANSFORMER) -> dict[str, str]:
    """The ``SNOWFLAKE_*`` variables dbt's ``snowflake`` target reads, from ``job``'s source by the precedence above:
    empty when that source is the variables themselves. Set in the dbt task's own process, never logged."""
    source = resolve_source(job)
    if source == "SNOWFLAKE_*":
        return {}
    from eventpipe.compat import snowflake_hook_conn_params

    params, _extra = snowflake_hook_conn_params(source)
    if not params.get("password"):
        raise SnowflakeCredentialsError(
            f"the Connection {source} has no password: dbt's snowflake target (dbt_project/profiles.yml) signs in"
            " with a password; set the SNOWFLAKE_* variables for it instead"
        )
    return {name: str(params[key]) for name, key in DBT_VARIABLES.items() if params.get(key)}


def _params_from_env(query_tag: str) -> dict[str, Any]:
    env = os.environ
    params: dict[str, Any] = {
        "account": env["SNOWFLAKE_ACCOUNT"],
        "user": env["SNOWFLAKE_USER"],
        "application": "eventpipe",
        "session_parameters": {"QUERY_TAG": query_tag},
    }
    for key in ("role", "warehouse", "database"):
        if env.get(f"SNOWFLAKE_{key.upper()}"):
            params[key] = env[f"SNOWFLAKE_{key.upper()}"]
    if env.get("SNOWFLAKE_PASSWORD"):
        params["password"] = env["SNOWFLAKE_PASSWORD"]
    else:
        params["private_key"] = der_private_key(
            env["SNOWFLAKE_PRIVATE_KEY"], env.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
        )
    return params


def der_private_key(pem: str, passphrase: str | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as error:
        # The message says what is wrong with the key, never the key.
        reason = type(error).__name__
        raise SnowflakeCredentialsError(f"SNOWFLAKE_PRIVATE_KEY is not a usable PEM private key ({reason})") from None
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
