"""The workers' Celery settings: Airflow's defaults kept, and the preloaded modules imported when a worker starts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.airflow

# Run in a fresh interpreter: what counts is what Celery's worker start-up imports, not what this process has.
WORKER_START = """
import json, sys
from celery import Celery
from eventpipe.orchestrate.celery_config import CELERY_CONFIG, PRELOADED_MODULES
before = {name for name in PRELOADED_MODULES if name in sys.modules}
app = Celery("probe", config_source=CELERY_CONFIG)
app.loader.init_worker()  # what a Celery worker calls before it forks its pool
after = {name for name in PRELOADED_MODULES if name in sys.modules}
print(json.dumps({"before": sorted(before), "after": sorted(after)}))
"""


def test_airflow_defaults_are_kept():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    from eventpipe.orchestrate.celery_config import CELERY_CONFIG

    assert {key: CELERY_CONFIG[key] for key in DEFAULT_CELERY_CONFIG} == DEFAULT_CELERY_CONFIG
    assert set(CELERY_CONFIG) - set(DEFAULT_CELERY_CONFIG) == {"imports"}


def test_a_starting_worker_imports_every_preloaded_module():
    out = subprocess.run([sys.executable, "-c", WORKER_START], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    from eventpipe.orchestrate.celery_config import PRELOADED_MODULES

    assert "dbt.cli.main" not in seen["before"], "the probe proves nothing if the config imports them itself"
    assert seen["after"] == sorted(PRELOADED_MODULES)
