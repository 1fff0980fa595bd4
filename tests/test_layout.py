"""The package's layout rules (issue 13), read from the source with ``ast``, never by importing it.

- no module imports a private name (``_name``) of another module, or reaches one through a module it imported
  (``module._name``); the issue asked for "another package", and within packages it holds too;
- no import cycle between modules, counting imports inside functions too (they are cycles all the same,
  only deferred), but not those under ``if TYPE_CHECKING:`` (annotations only, never run);
- production code (the package, ``dags/`` and ``plugins/``) never imports the local stand-ins
  (``eventpipe.devtools``) or the local mode that wires them in (``eventpipe.local``); only those two and the
  command line (``eventpipe.cli``) may;
- every module is under 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "include" / "eventpipe"
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
        for statement in node.body  # not its else: that runs
        for inner in ast.walk(statement)
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


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Names bound to an eventpipe module by an import in ``tree``: name -> module."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eventpipe"):
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("eventpipe") and alias.asname:
                    aliases[alias.asname] = alias.name
    return aliases


def test_no_module_uses_a_private_name_of_another_module():
    offenders = [
        f"{module} imports {source}.{name}"
        for module in MODULES
        for source, name in _imports(module)
        if name and name.startswith("_") and not name.startswith("__") and source != module
    ]
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        aliases = _module_aliases(tree)
        offenders += [
            f"{module} uses {aliases[node.value.id]}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
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


def _wiring(module: str) -> bool:
    return module == "eventpipe.cli" or any(module == p or module.startswith(p + ".") for p in WIRING)


def test_production_code_never_imports_the_stand_ins():
    offenders = [
        f"{module} imports {target}"
        for module, targets in _edges().items()
        if not _wiring(module)
        for target in targets
        if _wiring(target) and target != "eventpipe.cli"
    ]
    for path in sorted([*(REPO / "dags").glob("*.py"), *(REPO / "plugins").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            offenders += [f"{path.relative_to(REPO)} imports {name}" for name in names if _wiring(name)]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small_enough_to_read_in_one_sitting(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines < MAX_LINES, f"{module} has {lines} lines"
