"""The benches (bench/*.py) run on demand, not in the suite, and import eventpipe inside their phases (each
phase runs in a child process with its own EVENTPIPE_HOME). Nothing else would notice a rename that breaks one:
bench/hourly.py imported a ``deliver_task`` that had been renamed, and failed only after 3 minutes of its run.
This checks every name a bench imports from eventpipe, at any depth of the file, still exists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def eventpipe_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every ``from eventpipe... import name`` and (module, None) for ``import eventpipe...``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "eventpipe":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "eventpipe"]
    return found


@pytest.mark.parametrize("bench", sorted(BENCH.glob("*.py")), ids=lambda path: path.name)
def test_every_name_a_bench_imports_from_eventpipe_exists(bench: Path) -> None:
    imports = eventpipe_imports(bench)
    missing = []
    for module_name, name in imports:
        module = importlib.import_module(module_name)
        if name is not None and not hasattr(module, name):
            try:  # ``from package import submodule``
                importlib.import_module(f"{module_name}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"{bench.name} imports names that no longer exist: {missing}"


def test_the_check_finds_a_missing_name(tmp_path: Path) -> None:
    bench = tmp_path / "broken.py"
    bench.write_text("def phase():\n    from eventpipe.deliver.run import deliver_hour\n")  # gone with the hours
    assert eventpipe_imports(bench) == [("eventpipe.deliver.run", "deliver_hour")]
    assert not hasattr(importlib.import_module("eventpipe.deliver.run"), "deliver_hour")
