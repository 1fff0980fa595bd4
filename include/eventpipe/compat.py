"""Every private name of a dependency that eventpipe still uses, in one place (``PRIVATE_NAMES``).

A private name can move in any release of its package, with no deprecation. Each one below is used because the
package offers no public way to do the same thing (the ``why``); ``tests/test_private_names.py`` imports every
one from the installed versions and fails when one moves or changes the parameters we pass, and it fails too
when production code uses a private name of a dependency that is not listed here. ``pyproject.toml`` bounds the
packages above (next minor or major) so that an upgrade is a decision, taken with that test.

Accessors for the names the production code calls go here too (``snowflake_hook_conn_params``); the ones it
overrides (Cosmos' sensor hooks) or patches stay where they are used, and are listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PrivateName:
    module: str  # importable module
    name: str  # dotted attribute path in it
    used_in: str  # our module (or modules) using it
    why: str  # why no public API does
    parameters: tuple[str, ...] = ()  # the parameters we pass or override, checked against the signature


PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName(
        "airflow.providers.snowflake.hooks.snowflake",
        "SnowflakeHook._get_conn_params",
        "eventpipe.compat (eventpipe.warehouse.connections)",
        "the hook's public get_conn() drops the extra's `protocol` (http for the emulator); the connector arguments "
        "built from a Connection (key pair, OAuth, session parameters) are only available through this method",
    ),
    PrivateName(
        "cosmos.operators.watcher",
        "DbtConsumerWatcherSensor._handle_retry",
        "eventpipe.orchestrate.watcher_rerun",
        "Cosmos decides in it whether a sensor's later try runs dbt itself; no option or hook says 'report the "
        "producer's rebuild'",
        ("try_number", "producer_task_state", "context"),
    ),
    PrivateName(
        "cosmos.operators.watcher",
        "DbtConsumerWatcherSensor._handle_no_dbt_node_status",
        "eventpipe.orchestrate.watcher_rerun",
        "a .test sensor of a model whose tests all are CI-only has no status to wait for; Cosmos has no option",
        ("producer_task_state", "try_number", "context"),
    ),
    PrivateName(
        "airflow.models.backfill",
        "_create_backfill",
        "eventpipe.local.backfill",
        "what `airflow backfill create` and POST /api/v2/backfills call; Airflow 3.3 has no public Python entry point",
        (
            "dag_id",
            "from_date",
            "to_date",
            "max_active_runs",
            "reverse",
            "dag_run_conf",
            "triggering_user_name",
            "reprocess_behavior",
        ),
    ),
    PrivateName(
        "airflow.models.dagrun",
        "get_or_create_dagrun",
        "eventpipe.local.backfill (patched for the duration of one dag.test call)",
        "dag.test() makes a manual run of its own; the module-level function it calls is the only way to hand it "
        "the backfill's run (a public function, used privately: patched in its module)",
        ("dag", "session"),
    ),
    PrivateName(
        "airflow.sdk._shared.secrets_masker",
        "redact",
        "eventpipe.local.task_logs",
        "Airflow 3.3's deprecated public alias (airflow.sdk.execution_time.secrets_masker) points here",
    ),
    PrivateName(
        "cosmos.operators.watcher",
        "DbtRunWatcherOperator",
        "eventpipe.orchestrate.watcher_rerun (instances' __class__ swapped to a subclass)",
        "DbtTaskGroup builds its tasks from Cosmos' own classes and takes no operator class to use instead",
    ),
)

# Dev-only (the emulator in eventpipe.devtools, never in the production runtime), checked by the same test when
# the emulator extra is installed.
DEV_PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName(
        "fakesnow.server",
        "shared_fs",
        "eventpipe.devtools.emulator",
        "fakesnow's server keeps its one instance (where the databases live) in this module global; no option sets it",
    ),
)


def snowflake_hook_conn_params(conn_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Snowflake connector arguments the provider's hook builds from an Airflow Connection, and the
    Connection's extra (whose host, port and protocol the hook does not all pass on)."""
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    hook = SnowflakeHook(snowflake_conn_id=conn_id)
    connection = hook.get_connection(conn_id)
    return hook._get_conn_params(), connection.extra_dejson
