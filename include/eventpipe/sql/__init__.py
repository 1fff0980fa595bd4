"""SQL lives in .sql files beside this module: ``portable/`` for queries both engines run as written, one folder
per engine for the rest (COPY, MERGE, DDL, an engine's own functions). An engine's own file of a name wins over
the portable one.

Every file writes its parameters one way, DuckDB's own: ``$name`` for a named parameter, ``?`` for a positional
one (``executemany`` rows). This module is the one place that turns them into a driver's style:

- DuckDB: as written.
- Snowflake (the connector's client-side ``pyformat`` binding, which %-formats the statement): ``$name`` becomes
  ``%(name)s`` and ``?`` becomes ``%s``; every literal ``%`` is doubled, but only in a statement that has
  parameters, because the connector formats a statement only when it is given some (a statement run without,
  or through ``execute_string``, is sent as it stands). Comments are dropped (their lines stay, empty): a
  ``$name`` in one is no parameter, and the emulator (fakesnow) would take it for a session variable. Left as
  they are: ``$1`` (a stage column in Snowflake SQL), ``{token}`` (``str.format`` placeholders some callers fill
  in after loading), and whatever is inside a string literal or a quoted identifier.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_ROOT = Path(__file__).parent
ENGINES = ("duckdb", "snowflake")

# What to_driver must tell apart, in order: text that holds no parameter (string literals with '' or backslash
# escapes, quoted identifiers, $$-strings), a comment (-- or // to the end of the line, /* */), a $name parameter
# (not inside an identifier such as a$b, and not $1), a ? parameter, a lone %.
_TOKENS = re.compile(
    r"""(?P<literal>'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|\$\$.*?\$\$)"""
    r"""|(?P<comment>--[^\n]*|//[^\n]*|/\*.*?\*/)"""
    r"""|(?<![\w$])\$(?P<name>[A-Za-z_]\w*)"""
    r"""|(?P<positional>\?)"""
    r"""|(?P<percent>%)""",
    re.DOTALL,
)


@cache
def read_sql(engine: str, name: str) -> str:
    """The file as written (``$name`` / ``?`` parameters): for SQL composed further before it runs (the explorer's
    WHERE clauses); pass the result through ``to_driver``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    own = _ROOT / engine / f"{name}.sql"
    return (own if own.exists() else _ROOT / "portable" / f"{name}.sql").read_text()


@cache
def load_sql(engine: str, name: str) -> str:
    """The named query in ``engine``'s driver style, ready to execute."""
    return to_driver(engine, read_sql(engine, name))


def to_driver(engine: str, sql: str) -> str:
    """SQL written with ``$name`` / ``?`` parameters, in ``engine``'s driver style (see the module docstring)."""
    if engine == "duckdb":
        return sql
    if engine != "snowflake":
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    tokens = list(_TOKENS.finditer(sql))
    named = any(token["name"] for token in tokens)
    positional = any(token["positional"] for token in tokens)
    if named and positional:
        raise ValueError("a statement binds either $name or ? parameters, not both (pyformat cannot mix them)")
    escape = named or positional

    def replace(token: re.Match) -> str:
        if token["comment"]:
            return "\n" * token[0].count("\n")
        if token["name"]:
            return f"%({token['name']})s"
        if token["positional"]:
            return "%s"
        return token[0].replace("%", "%%") if escape else token[0]

    return _TOKENS.sub(replace, sql)


def for_rows(sql: str, count: int) -> str:
    """One statement for ``count`` rows of positional parameters, from a file written for one: an ``INSERT ...
    VALUES (...)`` gets ``count`` value tuples, a ``DELETE ... WHERE <key>`` the key ``count`` times, OR-ed. A
    driver's ``executemany`` runs the file once per row (DuckDB), or a DELETE once per row (Snowflake): one statement
    is one round trip. The caller flattens the rows' parameters in order."""
    body = sql.rstrip().rstrip(";").rstrip()
    lowered = body.lower()
    if lowered.lstrip().startswith("delete"):
        where = lowered.rindex("where")
        predicate = body[where + len("where") :].strip()
        return body[:where] + "where\n    " + "\n    or ".join([f"({predicate})"] * count) + ";"
    values = lowered.rindex("values")
    row = body[values + len("values") :].strip()
    if not (row.startswith("(") and row.endswith(")")):
        raise ValueError("for_rows takes an INSERT ... VALUES (...) or a DELETE ... WHERE ... statement")
    return body[:values] + "values\n" + ",\n".join([row] * count) + ";"
