"""A private copy of the dbt project to change, and dbt run on it against a copy of a built warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"


def copy_project(target: Path) -> Path:
    """The project's sources (no target/, logs/) under ``target``: a test edits its copy, never the checkout."""
    shutil.copytree(PROJECT, target, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path`` (fails when it is not there exactly once)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def dbt(project: Path, home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``dbt <args>`` on ``project`` with EVENTPIPE_HOME=home (its DuckDB warehouse), in a subprocess."""
    executable = Path(sys.executable).with_name("dbt")
    executable = executable if executable.exists() else Path(shutil.which("dbt") or "dbt")
    command = [str(executable), *args, "--project-dir", str(project), "--profiles-dir", str(project),
               "--no-use-colors"]  # fmt: skip
    env = {**os.environ, "EVENTPIPE_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=project)
