"""Compare two eventpipe warehouses table by table: what a refactor's before/after demo must show.

    uv run python bench/compare_warehouses.py BEFORE.duckdb AFTER.duckdb [BEFORE_HOME AFTER_HOME]

Attaches both DuckDB files read-only and compares every table and view as multisets of rows (each value cast to
text, so types that print alike compare alike). The two homes' paths, when given, are replaced by ``<home>`` so
that source-file URLs under two different EVENTPIPE_HOMEs compare equal. For a table whose rows differ, it names
the columns whose values differ and says whether the rows are identical without them: after two runs of the same
data only the columns that record when a row was written (``_loaded_at``, ``updated_at``, ...) should differ.
"""

from __future__ import annotations

import sys

import duckdb


def _relations(con: duckdb.DuckDBPyConnection, database: str) -> set[tuple[str, str]]:
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?", [database]
    ).fetchall()
    views = con.execute(
        "select schema_name, view_name from duckdb_views() where database_name = ? and not internal", [database]
    ).fetchall()
    return set(tables) | set(views)


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from duckdb_columns() where database_name = ? and schema_name = ? and table_name = ?"
        " order by column_index",
        [database, schema, table],
    ).fetchall()
    return [name for (name,) in rows]


def compare(before: str, after: str, homes: tuple[str, str] = ("", "")) -> list[str]:
    con = duckdb.connect()
    con.execute(f"attach '{before}' as b (read_only)")
    con.execute(f"attach '{after}' as a (read_only)")

    def text(columns: list[str], database: str) -> str:
        home = homes[0] if database == "b" else homes[1]
        if not home:
            return ", ".join(f'"{c}"::varchar' for c in columns)
        return ", ".join(f"replace(\"{c}\"::varchar, '{home}', '<home>')" for c in columns)

    def missing(columns: list[str], schema: str, table: str) -> int:
        query = (
            f'select {text(columns, "b")} from b."{schema}"."{table}" '
            f'except all select {text(columns, "a")} from a."{schema}"."{table}"'
        )
        return con.execute(f"select count(*) from ({query})").fetchone()[0]

    before_relations, after_relations = _relations(con, "b"), _relations(con, "a")
    lines = [f"only before: {sorted(before_relations - after_relations)}"]
    lines.append(f"only after: {sorted(after_relations - before_relations)}")
    for schema, table in sorted(before_relations & after_relations):
        columns = _columns(con, "b", schema, table)
        if columns != _columns(con, "a", schema, table):
            lines.append(f"{schema}.{table}: the columns differ")
            continue
        counts = [con.execute(f'select count(*) from {db}."{schema}"."{table}"').fetchone()[0] for db in "ba"]
        if counts[0] == counts[1] and missing(columns, schema, table) == 0:
            lines.append(f"{schema}.{table}: {counts[0]:,} rows, identical")
            continue
        differing = [c for c in columns if missing([c], schema, table)]
        rest = [c for c in columns if c not in differing]
        same = "identical" if rest and missing(rest, schema, table) == 0 else "DIFFERENT"
        lines.append(
            f"{schema}.{table}: {counts[0]:,} vs {counts[1]:,} rows; differ in columns {differing}; "
            f"the other columns' rows {same}"
        )
    return lines


if __name__ == "__main__":
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    homes = (sys.argv[3], sys.argv[4]) if len(sys.argv) == 5 else ("", "")
    print("\n".join(compare(sys.argv[1], sys.argv[2], homes)))
