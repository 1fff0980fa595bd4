"""``eventpipe up`` (issue 9, item 5): loopback by default, owner-only files, Airflow found without PATH, and the
whole process tree stopped by SIGTERM as by Ctrl-C.

The tree is the real one (``eventpipe.local.up.serve`` -> ``start_standalone`` -> the local receivers' wrapper, with its
HEC / Heap / GA4 receivers -> ``python -m airflow standalone``), except that ``airflow`` is a stand-in package first
on ``PYTHONPATH``: it does what matters here as Airflow does (creates the password file with ``open("a+")``, prints
the password to its log, starts a part of itself in a session of its own, looks ``airflow`` up on PATH) without a
4-minute start.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from eventpipe.local import up

FAKE_AIRFLOW = """
import json, os, shutil, subprocess, sys, time
if sys.argv[1:] != ["standalone"]:
    sys.exit(0)  # db migrate
home = os.environ["AIRFLOW_HOME"]
with open(os.path.join(home, "simple_auth_manager_passwords.json"), "a+") as f:
    f.write(json.dumps({"admin": "s3cret-admin-password"}))
print("standalone | Password for user 'admin': s3cret-admin-password", flush=True)
part = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
info = {
    "airflow": os.getpid(), "wrapper": os.getppid(), "part": part.pid,
    "which_airflow": shutil.which("airflow"), "api_host": os.environ.get("AIRFLOW__API__HOST"),
}
with open(os.path.join(home, "tree.json"), "w") as f:
    json.dump(info, f)
time.sleep(600)
"""

SERVE = """
import os, sys
os.umask(0o022)  # a usual login umask: anything not made private explicitly is world-readable
from eventpipe.local import up
up.ensure_manifest = lambda: None
up.wait_healthy = lambda *args, **kwargs: None
up.admin_password = lambda *args, **kwargs: "s3cret-admin-password"
print("serving", flush=True)
sys.exit(up.serve(0))
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def fake_airflow(tmp_path) -> Path:
    package = tmp_path / "fake" / "airflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent(FAKE_AIRFLOW))
    return package.parent


def test_sigterm_stops_the_whole_tree_and_up_is_private_loopback_and_path_free(eventpipe_home, fake_airflow):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake_airflow), *sys.path]),
        "PATH": "/usr/bin:/bin",  # no venv: run as .venv/bin/eventpipe up would be
        "EVENTPIPE_HOME": str(eventpipe_home),
    }
    serve = subprocess.Popen([sys.executable, "-c", SERVE], env=env, stdout=subprocess.PIPE, text=True)
    airflow_home = eventpipe_home / "airflow"
    tree_file = airflow_home / "tree.json"
    try:
        deadline = time.monotonic() + 60
        while not tree_file.exists() or not tree_file.stat().st_size:
            assert serve.poll() is None and time.monotonic() < deadline, "the tree did not start"
            time.sleep(0.1)
        time.sleep(0.2)
        tree = json.loads(tree_file.read_text())
        pids = [tree["wrapper"], tree["airflow"], tree["part"]]
        assert all(alive(pid) for pid in pids)
        assert os.getpgid(tree["part"]) != os.getpgid(tree["wrapper"])  # a part that left the process group

        # Loopback unless told otherwise, and Airflow's own "airflow ..." found without the venv on PATH.
        assert tree["api_host"] == "127.0.0.1"
        assert tree["which_airflow"] == str(Path(sys.executable).parent / "airflow")
        # The log holds the password: owner-only, as is the password file.
        log = airflow_home / "standalone.log"
        assert "s3cret-admin-password" in log.read_text()
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert stat.S_IMODE((airflow_home / "simple_auth_manager_passwords.json").stat().st_mode) == 0o600

        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)  # to `eventpipe up` only, as `kill <pid>` or a service manager does
        assert serve.wait(timeout=45) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in pids if alive(pid)] == []
        assert time.monotonic() - started < 40
    finally:
        if serve.poll() is None:
            serve.kill()
        for pid in json.loads(tree_file.read_text()).values() if tree_file.exists() else []:
            if isinstance(pid, int) and alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_ui_binds_loopback_unless_told_otherwise(eventpipe_home, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = up.standalone_environ(8123)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8123"
    everywhere = up.standalone_environ(8123, "0.0.0.0")
    assert everywhere["AIRFLOW__API__HOST"] == "0.0.0.0"
    assert everywhere["AIRFLOW__API__BASE_URL"] == "http://localhost:8123"
    assert up.standalone_command()[:3] == [sys.executable, "-m", "eventpipe.devtools.receivers.local"]
    assert up.standalone_command()[-3:] == ["-m", "airflow", "standalone"]


@pytest.mark.airflow  # runs `airflow version`
def test_airflow_runs_by_name_from_the_environment_without_the_venv_on_path(eventpipe_home, monkeypatch):
    """What ``airflow standalone`` does for each of its parts: ``Popen(["airflow", ...], env=...)``."""
    from eventpipe.orchestrate import airflow_env

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = airflow_env.airflow_environ()
    result = subprocess.run(["airflow", "version"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip()[:1].isdigit(), result.stderr[-500:]


def test_the_log_is_made_owner_only_whatever_an_earlier_run_left(tmp_path):
    log = tmp_path / "standalone.log"
    log.write_text("earlier\n")
    log.chmod(0o644)
    with up.open_private(log) as handle:
        handle.write(b"now\n")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.read_text() == "earlier\nnow\n"
    fresh = tmp_path / "fresh.log"
    old = os.umask(0)
    try:
        up.open_private(fresh).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_the_laptop_keeps_the_simple_auth_manager(eventpipe_home, monkeypatch):
    """`eventpipe up` signs in with Airflow's simple auth manager even where the FAB provider is installed (the
    production image's); docker-compose.yml names FAB (tests/deploy)."""
    from eventpipe.orchestrate import airflow_env

    monkeypatch.delenv("AIRFLOW__CORE__AUTH_MANAGER", raising=False)
    env = airflow_env.airflow_environ()
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".simple_auth_manager.SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].endswith(":admin")
