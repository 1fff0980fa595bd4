"""Docs true to the code: every repository path and every `make` / `eventpipe` command that README.md and docs/*.md
name in backticks exists.

A path is a backticked word whose first segment is a top-level entry of the repository (``dags/...``,
``include/...``, ``Makefile``; a ``::test`` or ``:line`` suffix is dropped); words with a placeholder (``<``, ``*``,
``$``, ``{``) are patterns, not paths. A command is a backticked text starting ``make `` or ``eventpipe ``: its target
must be in the Makefile, its subcommand (and a subcommand's action: ``share plan``) in the CLI's parser."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from eventpipe import settings
from eventpipe.cli import build_parser

REPO = settings.REPO_ROOT
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Inline code spans, single or double backticks, on one line (fenced blocks are left out).
CODE = re.compile(r"(?<!`)(``?)(?!`)(.+?)(?<!`)\1(?!`)")
# Files the docs name that the user creates (each beside a tracked example).
USER_FILES = {"config/consumers.yml": "config/consumers.example.yml"}
TOP_LEVEL = {path.name for path in REPO.iterdir() if not path.name.startswith(".") or path.name == ".ci"} - {
    ".eventpipe",
    ".venv",
}


def spans(path: Path) -> list[tuple[int, str]]:
    found, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            found += [(number, match.group(2).strip()) for match in CODE.finditer(line)]
    return found


def repo_path(text: str) -> str | None:
    """The repository path ``text`` names, or None when it names none."""
    if " " in text or any(mark in text for mark in "<>*${}") or "://" in text:
        return None
    text = re.sub(r"(::\S+|:\d+(-\d+)?)$", "", text)
    first = text.split("/")[0]
    return text if first in TOP_LEVEL and first not in ("", ".") else None


def make_targets() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*):(?!=)", (REPO / "Makefile").read_text(), re.M)}


def cli_commands() -> dict[str, set[str]]:
    """Subcommand -> its actions (empty when it has none)."""

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:  # argparse offers no public way to list subcommands
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    return {name: set(choices(sub)) for name, sub in choices(build_parser()).items()}


def named() -> list[tuple[str, int, str]]:
    return [(doc.relative_to(REPO).as_posix(), number, text) for doc in DOCS for number, text in spans(doc)]


def test_the_docs_name_paths_and_commands_at_all():
    texts = [text for _, _, text in named()]
    assert sum(1 for text in texts if repo_path(text)) > 50
    assert any(text.startswith("make ") for text in texts) and any(text.startswith("eventpipe ") for text in texts)


def test_every_path_the_docs_name_exists():
    assert all((REPO / example).exists() for example in USER_FILES.values())
    missing = [
        f"{doc}:{n}: {text}"
        for doc, n, text in named()
        if (p := repo_path(text)) and p not in USER_FILES and not (REPO / p).exists()
    ]
    assert not missing, "\n".join(missing)


def test_every_command_the_docs_name_exists():
    targets, commands = make_targets(), cli_commands()
    wrong = []
    for doc, number, text in named():
        # `uv run eventpipe ...` is the same command; `plan\|apply` is `plan|apply` escaped in a table.
        words = re.sub(r"^uv run( --frozen)? ", "", text.replace("\\|", "|")).split()
        if words[0] == "make" and len(words) > 1 and not words[1].startswith("-") and "=" not in words[1]:
            if words[1] not in targets:
                wrong.append(f"{doc}:{number}: {text} (no Makefile target {words[1]})")
        elif words[0] == "eventpipe" and len(words) > 1 and not words[1].startswith("-"):
            sub = words[1]
            if sub not in commands:
                wrong.append(f"{doc}:{number}: {text} (no eventpipe command {sub})")
            elif commands[sub] and len(words) > 2 and not words[2].startswith("-"):
                actions = set(words[2].split("|"))
                if not actions <= commands[sub]:
                    wrong.append(f"{doc}:{number}: {text} (eventpipe {sub} has no {actions - commands[sub]})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("include/eventpipe/cli.py", "include/eventpipe/cli.py"),
        ("tests/share/test_share.py::test_x", "tests/share/test_share.py"),
        ("dags/transform.py:52", "dags/transform.py"),
        ("Makefile", "Makefile"),
        ("sql/portable/", None),  # relative to a package, not to the repository
        ("$EVENTPIPE_HOME/share/state.json", None),
        ("eventpipe://landing/notifications", None),
        ("dbt_project/models/<layer>/", None),
    ],
)
def test_what_counts_as_a_repository_path(text, expected):
    assert repo_path(text) == expected
