"""The compose stack's broker password through a real Redis: the ``redis`` service's own command (read from
docker-compose.yml by the Compose parser) starts ``redis-server`` here with a password holding ``"``, ``\\``, ``@``,
``:``, ``/``, ``%``, a space and a newline, and the broker URL ``eventpipe.orchestrate.service_urls`` builds, the one
Airflow's Celery uses, signs in with it; the same URL with another password is refused."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
from kombu import Connection

from eventpipe.orchestrate import service_urls
from tests.deploy.compose_support import COMPOSE_FILE, ROOT, compose_binary
from tests.e2e.support import free_port

PASSWORD = 'r"\\@:/%25% x\nq'


@pytest.fixture
def redis_command(tmp_path) -> list[str]:
    env_file = tmp_path / ".env"
    env_file.write_text("")
    # Only the redis service's variables matter; the others just have to be set for the file to resolve.
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", COMPOSE_FILE.read_text()))
    command = [compose_binary(), "--project-directory", ROOT, "-f", COMPOSE_FILE, "--env-file", env_file]
    result = subprocess.run(
        [*command, "config", "--format", "json", "redis"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | dict.fromkeys(required, "x") | {"REDIS_PASSWORD": PASSWORD},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    service = json.loads(result.stdout)["services"]["redis"]
    assert service["environment"]["REDIS_PASSWORD"] == PASSWORD
    # compose's $$ is a literal $ in the container: the shell there expands $REDIS_PASSWORD.
    return [part.replace("$$", "$") for part in service["command"]]


def test_the_broker_url_signs_in_to_redis_started_as_compose_starts_it(redis_command, tmp_path):
    port = free_port()
    shell, flag, script = redis_command
    assert (shell, flag) == ("sh", "-c")
    server = subprocess.Popen(
        [shell, flag, f"{script} --port {port} --bind 127.0.0.1 --save '' --dir {tmp_path}"],
        env={"PATH": os.environ["PATH"], "REDIS_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        url = service_urls.broker_url({"REDIS_PASSWORD": PASSWORD, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)})
        deadline = time.monotonic() + 30
        while True:
            try:
                with Connection(url, connect_timeout=2) as connection:
                    connection.ensure_connection(max_retries=1)
                    client = connection.default_channel.client
                    assert client.ping() is True
                    client.set("eventpipe-broker-check", "1")
                break
            except Exception:
                assert server.poll() is None, "redis-server exited"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        wrong = service_urls.broker_url({"REDIS_PASSWORD": "wrong", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)})
        with (
            pytest.raises(Exception, match=r"(?i)auth|password|invalid"),
            Connection(wrong, connect_timeout=2) as refused,
        ):
            refused.ensure_connection(max_retries=1)
            refused.default_channel.client.ping()
    finally:
        server.terminate()
        server.wait(timeout=10)
