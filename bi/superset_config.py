"""Superset's configuration for eventpipe (loaded through SUPERSET_CONFIG_PATH by bi/eventpipe_bi.py).

No secret is in this file: the SECRET_KEY is generated at first start into $EVENTPIPE_BI_HOME/secret_key (mode
0600, never committed), and Superset's own metadata is a SQLite file beside it.
"""

import os
from pathlib import Path

BI_HOME = Path(os.environ["EVENTPIPE_BI_HOME"])

SECRET_KEY = (BI_HOME / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{BI_HOME / 'superset.db'}"

# The warehouse is registered by the bundle (read-only); no example data, no uploads, no DML from SQL Lab.
SUPERSET_LOAD_EXAMPLES = False
PREVENT_UNSAFE_DB_CONNECTIONS = False  # the DuckDB file is a local path (read_only)
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "EMBEDDED_SUPERSET": False}
# Every chart query goes to the warehouse: figures as fresh as the last published snapshot.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Local only (127.0.0.1): no HTTPS to insist on.
TALISMAN_ENABLED = False
SESSION_COOKIE_SECURE = False
