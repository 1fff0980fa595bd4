"""The Secure Data Share as code: per-consumer secure views with Airkit's documented names.

One column mapping (``views.VIEWS``) renders both engines:

- Snowflake (``planner``, ``snowflake``): the share database, a private ``sharing_access``
  mapping, six secure views filtered to CURRENT_ACCOUNT(), CREATE SHARE / GRANT ... TO SHARE /
  ALTER SHARE ... ACCOUNTS, planned as a diff against the account's current state (``state``).
- DuckDB (``local``): one schema per consumer with the same views, for the embedded default.

Functions a CLI or a DAG calls: ``load_config``, ``plan_statements``, ``render_snowflake_ddl``,
``build_local_share`` (and ``read_state`` / ``apply_plan`` with a Snowflake cursor).
"""

from eventpipe.share.config import Consumer, ShareConfig, load_config, parse_config
from eventpipe.share.local import build_local_share
from eventpipe.share.planner import apply_plan, format_plan, plan, plan_statements, render_snowflake_ddl
from eventpipe.share.simulate import apply_to_state
from eventpipe.share.state import AccessRow, Grant, ShareState, read_state
from eventpipe.share.views import VIEWS

__all__ = [
    "VIEWS",
    "AccessRow",
    "Consumer",
    "Grant",
    "ShareConfig",
    "ShareState",
    "apply_plan",
    "apply_to_state",
    "build_local_share",
    "format_plan",
    "load_config",
    "parse_config",
    "plan",
    "plan_statements",
    "read_state",
    "render_snowflake_ddl",
]
