"""Where the explorer reads the marts: the seam between its queries and a warehouse.

``DuckDBMartsReader`` (the embedded default) reads the read snapshot (``eventpipe.warehouse.read_snapshot``: the
marts as of the last build, which is what the marts are) when ``transform`` has published one, so it neither waits
for a writer nor makes one wait. Without a snapshot it opens the warehouse read-only for one request and closes it
again; when a writer holds the lock it retries briefly, then raises ``WarehouseUnavailable`` (the API answers 503).

``SnowflakeMartsReader`` is the production seam: the same .sql files and named parameters through a
DB-API connection (snowflake-connector's ``pyformat`` binding, which ``eventpipe.sql.to_driver`` writes the
parameters in); tested on fakesnow, not against a real Snowflake account here.

``ConfiguredMartsReader`` (what the plugin uses) picks one of the two per request from ``EVENTPIPE_TARGET``:
DuckDB by default, Snowflake as the reader role (the Connection ``snowflake_reader``, else ``snowflake_default``:
``eventpipe.warehouse.connections``) when the target is ``snowflake``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb

from eventpipe.sql import to_driver

# SQL with `$name` parameters (eventpipe.sql's one style) and their values -> rows as dicts.
Fetch = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


class WarehouseUnavailable(Exception):
    """The warehouse cannot answer now (busy, not built yet): a 503 with this message."""


class MartsReader(Protocol):
    engine: str  # the engine whose folder of include/eventpipe/sql the queries come from, and whose driver runs them

    def session(self) -> Any:
        """A context manager yielding ``fetch(sql, params) -> rows as dicts``, for one request: ``sql`` has
        ``$name`` parameters, which ``fetch`` writes in its driver's style (``eventpipe.sql.to_driver``)."""


def _rows(cursor) -> list[dict[str, Any]]:
    names = [column[0].lower() for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class DuckDBMartsReader:
    engine = "duckdb"

    def __init__(
        self, path: Path | str | None = None, lock_wait: float = 3.0, snapshot: Path | str | None = None
    ) -> None:
        """``snapshot``: the read snapshot to read instead of the warehouse once it exists (default: the configured
        one when ``path`` is the configured warehouse, none for a path given here)."""
        self._path = Path(path) if path else None
        self._snapshot = Path(snapshot) if snapshot else None
        self.lock_wait = lock_wait

    @property
    def snapshot(self) -> Path | None:
        from eventpipe.warehouse import read_snapshot

        return self._snapshot or (None if self._path else read_snapshot.path())

    @property
    def path(self) -> Path:
        from eventpipe import settings  # read at call time: EVENTPIPE_HOME may change

        return self._path or settings.warehouse_path()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        snapshot = self.snapshot
        if snapshot is not None and snapshot.exists():
            return duckdb.connect(str(snapshot), read_only=True)
        path = self.path
        if not path.exists():
            raise WarehouseUnavailable(
                f"No warehouse at {path} yet: load some data first (eventpipe demo, or trigger event_pipeline)."
            )
        deadline = time.monotonic() + self.lock_wait
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(path), read_only=True)
            except (duckdb.IOException, duckdb.ConnectionException) as error:
                if "lock" not in str(error).lower() and "different configuration" not in str(error):
                    raise WarehouseUnavailable(f"Cannot open the warehouse: {error}") from error
                if time.monotonic() >= deadline:
                    raise WarehouseUnavailable(
                        "The warehouse is busy: a pipeline run is writing to it (DuckDB allows one writer). "
                        "Try again in a few seconds."
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextmanager
    def session(self) -> Iterator[Fetch]:
        con = self._connect()
        try:
            con.execute("SET TimeZone = 'UTC'")

            def fetch(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
                try:
                    return _rows(con.execute(to_driver(self.engine, sql), params))
                except duckdb.CatalogException as error:
                    raise WarehouseUnavailable(
                        f"The marts are not built yet ({str(error).splitlines()[0]}): run event_pipeline first."
                    ) from error

            yield fetch
        finally:
            con.close()


class SnowflakeMartsReader:
    """Production seam: ``connect()`` returns a DB-API connection (e.g. a SnowflakeHook's
    ``get_conn()``) whose session already uses the database holding the ``marts`` and ``ops`` schemas."""

    engine = "snowflake"  # the explorer's queries are portable (sql/portable): the same files as DuckDB's

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect

    @contextmanager
    def session(self) -> Iterator[Fetch]:
        con = self._connect()
        try:

            def fetch(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
                cursor = con.cursor()
                try:
                    cursor.execute(to_driver(self.engine, sql), params)
                    return _rows(cursor)
                finally:
                    cursor.close()

            yield fetch
        finally:
            con.close()


class ConfiguredMartsReader:
    """The warehouse ``EVENTPIPE_TARGET`` names, chosen when a request opens it (never at import)."""

    @property
    def engine(self) -> str:
        return self.current().engine

    def current(self) -> DuckDBMartsReader | SnowflakeMartsReader:
        from eventpipe import settings

        if settings.warehouse_target() == "snowflake":
            from eventpipe.warehouse.connections import READER, connect_snowflake

            # As the reader (SELECT on the marts only): never the loader's read-write identity.
            return SnowflakeMartsReader(functools.partial(connect_snowflake, READER, query_tag="eventpipe-explorer"))
        return DuckDBMartsReader()

    def session(self):
        return self.current().session()
