"""The deploy tests' fixtures: a filled .env and the compose file as the parser resolves it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml

from .compose_support import COMPOSE_FILE, example_variables, parse


@pytest.fixture(scope="module")
def filled_env() -> dict[str, str]:
    """.env.example with every empty value filled (random secrets), as a user's .env would be."""
    return {name: value or f"test-{secrets.token_hex(8)}" for name, value in example_variables().items()}


@pytest.fixture(scope="module")
def env_file(tmp_path_factory, filled_env) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text("".join(f"{name}={value}\n" for name, value in filled_env.items()))
    return path


@pytest.fixture(scope="module")
def config(env_file) -> dict:
    """The resolved model, every profile included (the splunk service too)."""
    return json.loads(parse(env_file, "--profile", "splunk", "config", "--format", "json").stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())
