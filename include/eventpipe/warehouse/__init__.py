"""The warehouse the pipeline loads into and reads from: embedded DuckDB or Snowflake.

One interface (``base.Warehouse``), two engines (``duckdb_engine``, ``snowflake_engine``). The loader, the
reconciliation and the run summary talk to a ``Warehouse``; each engine keeps its SQL in ``sql/<engine>/``
(``sql/portable/`` where both run it as written) and its own way of landing a validated group (``load_group``).
Which one a process uses is ``EVENTPIPE_TARGET`` (``duckdb``, the embedded default, or ``snowflake``), read by
``open_warehouse``. ``connections`` opens Snowflake for the loader, the share and the explorer alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb

from eventpipe import settings
from eventpipe.warehouse.base import QuarantinedFile, Warehouse
from eventpipe.warehouse.duckdb_engine import DuckDBWarehouse, connect

__all__ = ["DuckDBWarehouse", "QuarantinedFile", "Warehouse", "as_warehouse", "connect", "open_warehouse"]


def as_warehouse(target: Warehouse | duckdb.DuckDBPyConnection) -> Warehouse:
    """A plain DuckDB connection is the embedded warehouse; anything else already is a ``Warehouse``."""
    return DuckDBWarehouse(target) if isinstance(target, duckdb.DuckDBPyConnection) else target


@contextlib.contextmanager
def open_warehouse() -> Iterator[Warehouse]:
    """The configured warehouse (``EVENTPIPE_TARGET``), closed after the block."""
    if settings.warehouse_target() == "snowflake":
        from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

        warehouse: Warehouse = SnowflakeWarehouse.connect()
    else:
        warehouse = DuckDBWarehouse(connect())
    try:
        yield warehouse
    finally:
        warehouse.close()
