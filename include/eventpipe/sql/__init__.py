"""SQL lives in .sql files beside this module: one folder per engine, and ``portable/`` for queries
both engines run as written. An engine's own file of the same name wins."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_ROOT = Path(__file__).parent


@cache
def load_sql(engine: str, name: str) -> str:
    own = _ROOT / engine / f"{name}.sql"
    return (own if own.exists() else _ROOT / "portable" / f"{name}.sql").read_text()
