"""The Assets the pipeline reads and writes, named after what they are, never after a machine or an engine.

One scheme, ``eventpipe://``, follows the OpenLineage naming conventions: a URI is ``{namespace}/{name}``, the
namespace naming the data source and the name the dataset in it:

- ``eventpipe://landing/events``: the landing zone (a local directory or an ``s3://`` prefix);
- ``eventpipe://landing/notifications``: the landing bucket's event notifications (S3 -> SQS), when
  ``EVENTPIPE_LANDING_QUEUE`` is set: an asset with a watcher on the queue that wakes ``load_events``
  (``eventpipe.orchestrate.landing_events``);
- ``eventpipe://warehouse/{schema}.{table}``: a table or view of the warehouse, the same on DuckDB and Snowflake
  (``raw.session_event``, ``staging.stg_raw__session_events``, ``marts.fct_sessions``,
  ``share.SESSION_EVENT``), which database file or account holds it being configuration, not identity;
- ``eventpipe://deliveries/{type}``: what the deliveries send to, one per destination type (``s3``,
  ``splunk_hec``, ``heap``, ``ga4``).

``eventpipe.orchestrate.lineage`` registers the scheme with Airflow, so OpenLineage events carry the same names.
"""

from __future__ import annotations

import re

from eventpipe import contract
from eventpipe.contract import RAW_SCHEMA
from eventpipe.deliver.config import TYPES as DESTINATION_TYPES  # s3, splunk_hec, heap, ga4

SCHEME = "eventpipe"
LANDING = f"{SCHEME}://landing"
WAREHOUSE = f"{SCHEME}://warehouse"
DELIVERIES = f"{SCHEME}://deliveries"
NAMESPACES = (LANDING, WAREHOUSE, DELIVERIES)

RAW_TABLES = tuple(f"{RAW_SCHEMA}.{table}" for table in contract.RAW_TABLES)
# The ledger of load commits, written with the raw rows: what the marts and the deliveries take next.
LOAD_COMMITS = "ops.load_commit"
# What deliver reads: the interval's App Events and Audit logs, from raw (ops.loaded_file says which rows).
DELIVERY_SOURCES = ("raw.session_event", "raw.audit_event")
SHARE_SCHEMA = "share"
# A dataset name: an identifier, or schema.table of identifiers (no path, no host, no engine).
DATASET_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?")


def table_uri(table: str) -> str:
    """``schema.table`` in the warehouse, on any engine."""
    if not DATASET_NAME.fullmatch(table) or "." not in table:
        raise ValueError(f"a warehouse table is schema.table, not {table!r}")
    schema, _, name = table.partition(".")
    return f"{WAREHOUSE}/{schema}.{name}"


def landing_uri() -> str:
    return f"{LANDING}/events"


def landing_notifications_uri() -> str:
    return f"{LANDING}/notifications"


def destination_uri(destination_type: str) -> str:
    if destination_type not in DESTINATION_TYPES:
        raise ValueError(f"destination type must be one of {', '.join(DESTINATION_TYPES)}, not {destination_type!r}")
    return f"{DELIVERIES}/{destination_type}"


def share_view_uri(view: str) -> str:
    return table_uri(f"{SHARE_SCHEMA}.{view}")


def asset(uri: str, watchers: list | None = None):
    """The Airflow Asset for ``uri``, named by its dataset (``raw.session_event``) and grouped by its namespace;
    ``watchers``: the ``AssetWatcher``s whose triggers emit its events (``landing_notifications_uri``)."""
    from airflow.sdk import Asset

    namespace, _, name = uri.rpartition("/")
    if namespace not in NAMESPACES or not name:
        raise ValueError(f"not an eventpipe asset URI: {uri!r}")
    group = namespace.removeprefix(f"{SCHEME}://")
    name = f"{group}:{name}" if group != "warehouse" else name
    return Asset(uri=uri, name=name, group=group, watchers=watchers or [])


def raw_assets() -> list:
    """What a load writes: the raw tables and the ledger of load commits."""
    return [asset(table_uri(table)) for table in (*RAW_TABLES, LOAD_COMMITS)]


def delivery_inlets() -> list:
    return [asset(table_uri(table)) for table in DELIVERY_SOURCES]


def destination_assets() -> list:
    return [asset(destination_uri(kind)) for kind in DESTINATION_TYPES]
