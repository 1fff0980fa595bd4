"""SQL lives in .sql files beside this module, one folder per engine."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_ROOT = Path(__file__).parent


@cache
def load_sql(engine: str, name: str) -> str:
    return (_ROOT / engine / f"{name}.sql").read_text()
