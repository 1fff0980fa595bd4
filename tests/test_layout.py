"""The package's layout rules (issue 13), read from the source with ``ast``, never by importing it.

- no module imports a private name (``_name``) from another package;
- no import cycle between modules, counting imports inside functions too (they are cycles all the same,
  only deferred), but not those under ``if TYPE_CHECKING:`` (annotations only, never run);
- production code never imports the local stand-ins (``eventpipe.devtools``) or the local mode that wires
  them in (``eventpipe.local``); only those two and the command line (``eventpipe.cli``) may;
- every module is under 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "eventpipe"
WIRING = ("eventpipe.devtools", "eventpipe.local")  # may import devtools; so may eventpipe.cli
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _package(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every eventpipe import in ``module``, at any depth."""
    found: list[tuple[str, str | None]] = []
    tree = ast.parse(MODULES[module].read_text())
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.startswith("eventpipe")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module).split(".")
                source = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("eventpipe"):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append((submodule, None) if submodule in MODULES else (source, alias.name))
    return found


def _edges() -> dict[str, set[str]]:
    return {module: {target for target, _ in _imports(module) if target in MODULES} for module in MODULES}


def test_the_rules_see_the_package():
    assert len(MODULES) > 50 and "eventpipe.ingest.load" in MODULES and "eventpipe.devtools" in MODULES


def test_no_module_imports_a_private_name_of_another_package():
    offenders = [
        f"{module} imports {source}.{name}"
        for module in MODULES
        for source, name in _imports(module)
        if name and name.startswith("_") and _package(source if source in MODULES else module) != _package(module)
    ]
    assert offenders == []


def test_no_import_cycles():
    edges, cycles, state = _edges(), [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_production_code_never_imports_the_stand_ins():
    def wiring(module: str) -> bool:
        return module == "eventpipe.cli" or any(module == p or module.startswith(p + ".") for p in WIRING)

    offenders = [
        f"{module} imports {target}"
        for module, targets in _edges().items()
        if not wiring(module)
        for target in targets
        if wiring(target) and target != "eventpipe.cli"
    ]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small_enough_to_read_in_one_sitting(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines < MAX_LINES, f"{module} has {lines} lines"
