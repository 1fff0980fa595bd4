"""Connections to Snowflake, for the loader, the share and the explorer alike: credentials from
``SNOWFLAKE_*`` variables or an Airflow Connection, never from a file."""

from __future__ import annotations

import os
from typing import Any

from eventpipe import settings

# Connection extras the provider's hook does not pass on, but a private-link host or the emulator needs.
ENDPOINT_EXTRAS = ("host", "port", "protocol")

CREDENTIALS_HELP = (
    "set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY, a PEM key,"
    " with SNOWFLAKE_PRIVATE_KEY_PASSPHRASE if encrypted), optionally SNOWFLAKE_ROLE and SNOWFLAKE_WAREHOUSE;"
    " or define the Airflow Connection snowflake_default (EVENTPIPE_SNOWFLAKE_CONN_ID names another)"
)


class SnowflakeCredentialsError(ValueError):
    """No usable Snowflake credentials. The message says what to set, never a credential."""


def credentials_in_env() -> bool:
    env = os.environ
    return bool(env.get("SNOWFLAKE_ACCOUNT") and env.get("SNOWFLAKE_USER")) and bool(
        env.get("SNOWFLAKE_PASSWORD") or env.get("SNOWFLAKE_PRIVATE_KEY")
    )


def connect_snowflake(conn_id: str | None = None, *, query_tag: str = "eventpipe"):
    """A snowflake-connector connection, for the loader, the share and the explorer alike.

    Credentials come from ``SNOWFLAKE_*`` variables when they are set (the ones dbt's ``snowflake``
    target reads), else from an Airflow Connection (``snowflake_default``) read by the Snowflake
    provider's hook, which turns it into connector arguments (account, user, password or key pair,
    role, warehouse, database, session parameters); host, port and protocol come from its extra.
    """
    from snowflake import connector

    if credentials_in_env():
        return connector.connect(**_params_from_env(query_tag))
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = conn_id or settings.snowflake_conn_id()
    hook = SnowflakeHook(snowflake_conn_id=conn_id)
    try:
        connection = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise SnowflakeCredentialsError(f"no Snowflake credentials: {CREDENTIALS_HELP}") from None
    params = hook._get_conn_params()
    params.update({key: connection.extra_dejson[key] for key in ENDPOINT_EXTRAS if connection.extra_dejson.get(key)})
    params = {key: value for key, value in params.items() if value not in (None, "")}
    return connector.connect(**params)


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
