"""Every private name of a dependency eventpipe uses is listed in eventpipe.compat, and still where we use it.

Fails when an upgrade moves or renames one (or drops a parameter we pass or override), and when production code
starts using a private name of a dependency that the list does not name."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

import eventpipe
from eventpipe.compat import DEV_PRIVATE_NAMES, PRIVATE_NAMES, PrivateName

REPO = Path(eventpipe.__file__).parents[2]
PRODUCTION = [Path(eventpipe.__file__).parent, REPO / "dags", REPO / "plugins"]
THIRD_PARTY = ("airflow", "cosmos", "fakesnow", "snowflake", "dbt", "duckdb", "sqlglot", "boto3", "botocore")


def resolve(entry: PrivateName):
    target = importlib.import_module(entry.module)
    for part in entry.name.split("."):
        target = getattr(target, part)
    return target


def entry_id(entry: PrivateName) -> str:
    return f"{entry.module}.{entry.name}"


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=entry_id)
def test_each_private_name_is_still_there(entry):
    target = resolve(entry)
    if entry.parameters:
        parameters = inspect.signature(target).parameters
        missing = [name for name in entry.parameters if name not in parameters]
        assert not missing, f"{entry_id(entry)} lost {missing}: {entry.used_in} must change"


@pytest.mark.parametrize("entry", DEV_PRIVATE_NAMES, ids=entry_id)
def test_each_dev_private_name_is_still_there(entry):
    if importlib.util.find_spec(entry.module.split(".")[0]) is None:
        pytest.skip(f"{entry.module} is not installed (the emulator extra)")
    module = importlib.import_module(entry.module)
    # fakesnow's server sets shared_fs at start; the name must be a module global we can assign.
    assert entry.name in vars(module) or entry.name in getattr(module, "__annotations__", {}), entry_id(entry)


def private_uses(path: Path) -> set[str]:
    """``module.attribute`` for every private name of a third-party package a file imports or reads."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}  # local name -> dotted third-party origin
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in THIRD_PARTY:
            if any(part.startswith("_") for part in node.module.split(".")):
                found.add(node.module)
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if alias.name.startswith("_"):
                    found.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in THIRD_PARTY:  # `import a.b as c` binds c to a.b; `import a.b` binds a
                    aliases[alias.asname or top] = alias.name if alias.asname else top
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.add(f"{aliases[base.id]}.{node.attr}")
            elif is_hook_or_super(base):  # hook._get_conn_params(), super()._handle_retry(...)
                found.add(node.attr)
        patched = patched_name(node)
        if patched and patched[0] in aliases:
            found.add(f"{aliases[patched[0]]}.{patched[1]}")
    return found


def is_hook_or_super(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "hook"
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def patched_name(node: ast.AST) -> tuple[str, str] | None:
    """(module alias, attribute) of ``setattr(module, "name", ...)`` or ``_replaced(module, "name", ...)``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if node.func.id not in ("_replaced", "setattr") or len(node.args) < 2:
        return None
    module, name = node.args[0], node.args[1]
    if isinstance(module, ast.Name) and isinstance(name, ast.Constant) and isinstance(name.value, str):
        return module.id, name.value
    return None


def listed_spellings() -> set[str]:
    spellings = set()
    for entry in (*PRIVATE_NAMES, *DEV_PRIVATE_NAMES):
        spellings |= {f"{entry.module}.{entry.name}", entry.module, entry.name.split(".")[-1]}
        spellings.add(f"{entry.module}.{entry.name.split('.')[0]}")
    return spellings


def test_production_code_uses_no_unlisted_private_name():
    used: dict[str, set[str]] = {}
    for root in PRODUCTION:
        for path in root.rglob("*.py"):
            for name in private_uses(path):
                used.setdefault(name, set()).add(str(path.relative_to(REPO)))
    assert used, "the scan finds the names eventpipe.compat lists: it must find something"
    unlisted = {name: sorted(paths) for name, paths in used.items() if name not in listed_spellings()}
    assert not unlisted, f"private names used but not listed in eventpipe.compat: {unlisted}"


def test_the_scan_sees_each_kind_of_use(tmp_path):
    source = tmp_path / "uses.py"
    source.write_text(
        "import airflow.models.dagrun as dagrun_module\n"
        "from airflow.models.backfill import _create_backfill\n"
        "from airflow.sdk._shared.secrets_masker import redact\n"
        "params = hook._get_conn_params()\n"
        "_replaced(dagrun_module, 'get_or_create_dagrun', f)\n"
        "x = dagrun_module._private_thing\n"
    )
    assert private_uses(source) == {
        "airflow.models.backfill._create_backfill",
        "airflow.sdk._shared.secrets_masker",
        "_get_conn_params",
        "airflow.models.dagrun.get_or_create_dagrun",
        "airflow.models.dagrun._private_thing",
    }
