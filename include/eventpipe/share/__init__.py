"""The Secure Data Share as code: per-consumer secure views with Airkit's documented names.

One column mapping (``views.VIEWS``) renders both engines:

- Snowflake (``planner``, ``snowflake``): the share database, a private ``sharing_access``
  mapping, six secure views filtered to CURRENT_ACCOUNT(), CREATE SHARE / GRANT ... TO SHARE /
  ALTER SHARE ... ACCOUNTS, planned as a diff against the account's current state (``state``).
- DuckDB (``local``): one schema per consumer with the same views, for the embedded default.

Functions a CLI or a DAG calls: ``load_config``, ``plan`` / ``format_plan``, ``build_local_share`` and
``read_state`` (with a Snowflake cursor); ``sync`` plans and applies on a target (``eventpipe share plan|apply``,
the share_sync DAG), ``commands`` is the CLI.
"""

import importlib
from typing import Any

# Imported on first use (PEP 562): `eventpipe share` wires its parser into every CLI start, and the
# renderers pull in sqlglot; a command that never plans should not pay for that.
_EXPORTS = {
    "Consumer": "config",
    "ShareConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "build_local_share": "local",
    "format_plan": "planner",
    "plan": "planner",
    "apply_to_state": "simulate",
    "AccessRow": "state",
    "Grant": "state",
    "ShareState": "state",
    "read_state": "state",
    "VIEWS": "views",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = [
    "VIEWS",
    "AccessRow",
    "Consumer",
    "Grant",
    "ShareConfig",
    "ShareState",
    "apply_to_state",
    "build_local_share",
    "format_plan",
    "load_config",
    "parse_config",
    "plan",
    "read_state",
]
