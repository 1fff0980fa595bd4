"""Plan and apply the share on a target: what ``eventpipe share plan|apply`` and the share_sync DAG run.

Two targets:

- ``snowflake``: a real account. Its state is read live (``read_state``: SHOW commands and the
  mapping rows) through snowflake-connector-python; ``apply`` runs the plan, reads the state again
  and plans again: no statement may remain. Credentials come from ``SNOWFLAKE_*`` environment
  variables or the Airflow Connection ``snowflake_default``, never from a file, never logged.
- ``local`` (the embedded default; there is no Snowflake account here): a recorded state file,
  ``$EVENTPIPE_HOME/share/state.json``, **stands in for the account**, as Terraform's state does.
  ``plan`` diffs the consumers file against it and prints the Snowflake SQL a real account in that
  state would need. ``apply`` rebuilds the local DuckDB share on the warehouse (one schema per
  consumer, ``build_local_share``) and records the state those statements lead to
  (``apply_to_state``, which reads the statements' own text), so that a plan after an apply is
  empty. Nothing is sent to Snowflake: the local target proves the plan's idempotence and the
  views' isolation and masking, not that Snowflake accepts the statements.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventpipe import settings
from eventpipe.share.config import ShareConfig, load_config
from eventpipe.share.local import build_local_share
from eventpipe.share.planner import plan
from eventpipe.share.request import TARGETS
from eventpipe.share.simulate import apply_to_state
from eventpipe.share.state import AccessRow, Grant, ShareState, read_state
from eventpipe.share.views import VIEWS

STATE_VERSION = 1
# The names under which read_state looks objects up in an account: a state recorded under other
# names says nothing about these (a renamed share or database is a new, empty one).
_KEY_NAMES = ("name", "database", "schema", "private_schema")


class ShareSyncError(RuntimeError):
    """A condition the user must fix (missing credentials, no marts yet, a bad state file)."""


def default_consumers_path() -> Path:
    """``EVENTPIPE_SHARE_CONSUMERS``, else config/consumers.yml if present, else the example file."""
    if os.environ.get("EVENTPIPE_SHARE_CONSUMERS"):
        return Path(os.environ["EVENTPIPE_SHARE_CONSUMERS"])
    config_dir = settings.REPO_ROOT / "config"
    own = config_dir / "consumers.yml"
    return own if own.exists() else config_dir / "consumers.example.yml"


def load_consumers(path: str | Path | None = None) -> tuple[Path, ShareConfig]:
    path = Path(path) if path else default_consumers_path()
    return path, load_config(path)


def state_path() -> Path:
    """The local target's recorded state (it stands in for the Snowflake account)."""
    return settings.eventpipe_home() / "share" / "state.json"


# ----------------------------------------------------------------------------------------------
# the local target's state file
# ----------------------------------------------------------------------------------------------


def state_to_dict(state: ShareState) -> dict[str, Any]:
    state = state.normalized()
    return {
        "database_exists": state.database_exists,
        "schemas": sorted(state.schemas),
        "mapping_table_exists": state.mapping_table_exists,
        "mapping": [[r.organization_id, r.snowflake_account, r.pii_allowed] for r in state.mapping],
        "views": dict(state.views),
        "share_exists": state.share_exists,
        "grants": [[g.privilege, g.object_type, g.name] for g in sorted(state.grants)],
        "accounts": sorted(state.accounts),
    }


def state_from_dict(data: dict[str, Any]) -> ShareState:
    try:
        return ShareState(
            database_exists=_bool(data["database_exists"]),
            schemas=frozenset(_str(s) for s in data["schemas"]),
            mapping_table_exists=_bool(data["mapping_table_exists"]),
            mapping=tuple(AccessRow(_str(o), _str(a), _bool(p)) for o, a, p in data["mapping"]),
            views={_str(name): (None if fp is None else _str(fp)) for name, fp in data["views"].items()},
            share_exists=_bool(data["share_exists"]),
            grants=frozenset(Grant(_str(p), _str(t), _str(n)) for p, t, n in data["grants"]),
            accounts=frozenset(_str(a) for a in data["accounts"]),
        ).normalized()
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ShareSyncError(f"the recorded share state is not valid ({error!r})") from error


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{value!r} is not a boolean")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _names(config: ShareConfig) -> dict[str, str]:
    return {key: getattr(config, key) for key in _KEY_NAMES}


def read_local_state(config: ShareConfig, path: Path | None = None) -> tuple[ShareState, str | None]:
    """The recorded state for ``config``'s share and a note for the user (or None).

    No file: an empty account. A file recorded for another share or database name: that share is
    not this one, so this one is empty (the other is left alone, as it would be in an account).
    """
    path = path or state_path()
    if not path.exists():
        return ShareState(), f"no recorded state at {path}: planning from an empty account"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ShareSyncError(f"{path}: cannot read the recorded share state: {error}") from error
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ShareSyncError(f"{path}: not a version {STATE_VERSION} eventpipe share state file")
    if data.get("names") != _names(config):
        return ShareState(), f"{path} records another share ({data.get('names')}): planning {config.name} from empty"
    return state_from_dict(data.get("state", {})), None


def write_local_state(config: ShareConfig, state: ShareState, consumers: Path | None, path: Path | None = None) -> Path:
    """Record ``state`` atomically (a crash leaves the old file or the new one, never half of one)."""
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": STATE_VERSION,
        "about": "eventpipe share: the state a Snowflake account would be in after the statements"
        " `eventpipe share apply --target local` recorded. It stands in for the account on the embedded"
        " default; delete it to plan from an empty account.",
        "names": _names(config),
        "consumers_file": str(consumers) if consumers else None,
        "applied_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "state": state_to_dict(state),
    }
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(temporary, path)
    return path


# ----------------------------------------------------------------------------------------------
# Snowflake connection (credentials from the environment or an Airflow Connection only)
# ----------------------------------------------------------------------------------------------


def connect_snowflake() -> Any:
    """The share owner's Snowflake connection (``eventpipe.warehouse.connections.connect_snowflake``: the Connection
    snowflake_share, else snowflake_default, else ``SNOWFLAKE_*`` variables), tagged as the share's."""
    from eventpipe.warehouse.connections import SHARE, SnowflakeCredentialsError
    from eventpipe.warehouse.connections import connect_snowflake as connect

    try:
        return connect(SHARE, query_tag="eventpipe-share")
    except SnowflakeCredentialsError as error:
        raise ShareSyncError(str(error)) from None


@contextlib.contextmanager
def snowflake_cursor() -> Iterator[Any]:
    connection = connect_snowflake()
    try:
        with contextlib.closing(connection.cursor()) as cursor:
            yield cursor
    finally:
        connection.close()


# ----------------------------------------------------------------------------------------------
# plan and apply
# ----------------------------------------------------------------------------------------------


@dataclass
class Plan:
    target: str
    statements: list[str]
    note: str | None = None  # for the user: where the state came from
    current: ShareState | None = None  # the state planned from (for access_changes)


@dataclass
class Applied:
    target: str
    ran: list[str]  # the statements applied
    remaining: list[str]  # the plan right after: must be empty
    # local target: consumer account -> its schema, and rows visible per view in it
    schemas: dict[str, str] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    state_file: Path | None = None


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ShareSyncError(f"unknown target {target!r} (one of {', '.join(TARGETS)})")


def plan_share(config: ShareConfig, target: str = "local", cursor: Any = None) -> Plan:
    """The statements that bring ``target`` to ``config`` (read-only: nothing is changed)."""
    _check_target(target)
    if target == "local":
        state, note = read_local_state(config)
        gaps = local_share_gaps(config)
        if gaps:
            gap_note = f"the local DuckDB share lacks {', '.join(gaps)}: `eventpipe share apply` rebuilds it"
            note = f"{note}\n{gap_note}" if note else gap_note
        return Plan(target, plan(state, config), note, state)
    if cursor is None:
        with snowflake_cursor() as cursor:
            return plan_share(config, target, cursor)
    state = read_state(cursor, config)
    return Plan(target, plan(state, config), current=state)


def apply_share(config: ShareConfig, consumers: Path | None, target: str = "local", cursor: Any = None) -> Applied:
    """Apply the plan on ``target``, then plan again; raises ShareSyncError if anything remains."""
    _check_target(target)
    if target == "local":
        applied = _apply_local(config, consumers)
    elif cursor is None:
        with snowflake_cursor() as cursor:
            applied = apply_to_snowflake(config, cursor)
    else:
        applied = apply_to_snowflake(config, cursor)
    if applied.remaining:
        raise ShareSyncError(
            f"{len(applied.remaining)} statement(s) still planned right after apply on {target}:\n"
            + "\n".join(s.splitlines()[0] for s in applied.remaining)
        )
    return applied


def apply_to_snowflake(config: ShareConfig, cursor: Any) -> Applied:
    """Read the account's state through ``cursor``, plan, run the plan, and read what remains to do."""
    statements = plan(read_state(cursor, config), config)
    # One at a time, in order: a failure leaves a partial but safe state (access narrowed before it
    # is widened) that the next plan picks up from.
    for statement in statements:
        cursor.execute(statement)
    return Applied("snowflake", statements, plan(read_state(cursor, config), config))


def _apply_local(config: ShareConfig, consumers: Path | None) -> Applied:
    from eventpipe import warehouse

    state, _ = read_local_state(config)
    statements = plan(state, config)
    # What the account would hold after these statements, read from their text (and refused if a
    # statement would fail there, e.g. a grant before its share exists).
    after = apply_to_state(state, statements, config)
    with contextlib.closing(warehouse.connect()) as con:
        missing = missing_marts(con)
        if missing:
            raise ShareSyncError(
                f"the warehouse {settings.warehouse_path()} has no {', '.join(missing)} yet: run the pipeline"
                " first (`eventpipe run` or `eventpipe demo`), then apply the share"
            )
        schemas = build_local_share(con, config)
        rows = local_row_counts(con, config)
    # Recorded only once the local share is built: a failed build leaves the old state to plan from.
    path = write_local_state(config, after, consumers)
    remaining = plan(read_local_state(config, path)[0], config)
    return Applied("local", statements, remaining, schemas, rows, path)


def local_share_gaps(config: ShareConfig) -> list[str]:
    """Consumer views missing from the local DuckDB share (e.g. a fresh warehouse under an old state).

    Best effort and read-only: nothing when the warehouse does not exist or another process holds it.
    """
    import duckdb

    path = settings.warehouse_path()
    if not path.exists():
        return []
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            present = {
                f"{schema}.{name}".lower()
                for schema, name in con.execute(
                    "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = current_database()"
                ).fetchall()
            }
    except duckdb.Error:
        return []
    return [
        f"{consumer.local_schema}.{view.name}"
        for consumer in config.consumers
        for view in VIEWS
        if f"{consumer.local_schema}.{view.name}".lower() not in present
    ]


def missing_marts(con: Any, source_schema: str = "marts") -> list[str]:
    marts = sorted({view.mart for view in VIEWS})
    found = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_schema = ? AND table_name IN ?",
            [source_schema, marts],
        ).fetchall()
    }
    return [f"{source_schema}.{mart}" for mart in marts if mart not in found]


def local_row_counts(con: Any, config: ShareConfig) -> dict[str, dict[str, int]]:
    """Rows each consumer sees in each view of the local share."""
    return {
        consumer.account: {
            view.name: con.execute(f"SELECT count(*) FROM {consumer.local_schema}.{view.name}").fetchone()[0]
            for view in VIEWS
        }
        for consumer in config.consumers
    }


def format_row_counts(rows: dict[str, dict[str, int]]) -> str:
    """A table of rows visible per consumer (row) and view (column)."""
    if not rows:
        return "(no consumers)"
    views = [view.name for view in VIEWS]
    width = max(len(account) for account in rows)
    header = "consumer".ljust(width) + "".join(f"  {name:>{len(name)}}" for name in views)
    lines = [header]
    for account, counts in rows.items():
        lines.append(account.ljust(width) + "".join(f"  {counts[name]:>{len(name)},}" for name in views))
    return "\n".join(lines)
