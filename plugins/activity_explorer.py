"""Activity Explorer in the Airflow UI: the explorer's FastAPI app mounted at ``/explorer`` on the API
server, and a nav entry that shows it inside the UI (``/plugin/activity-explorer``).

Thin on purpose: the app lives in ``eventpipe.explorer`` (tested without Airflow), and who may see it, and which
organizations, is asked of Airflow's auth manager by ``eventpipe.orchestrate.explorer_access`` (the permission
``Activity Explorer``; roles ``org:<id>``). Importing this file does no I/O; each request opens the warehouse
``EVENTPIPE_TARGET`` names (DuckDB read-only by default).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from eventpipe.explorer.app import create_app
from eventpipe.orchestrate.explorer_access import explorer_scope


class ActivityExplorerPlugin(AirflowPlugin):
    name = "activity_explorer"
    fastapi_apps = [
        {
            "name": "Activity Explorer",
            "app": create_app(access=explorer_scope),
            "url_prefix": "/explorer",
        }
    ]
    external_views = [
        {
            "name": "Activity Explorer",
            "href": "explorer/",
            "url_route": "activity-explorer",
            "destination": "nav",
            "nav_top_level": True,
            "icon": "explorer/static/icon.svg",
        }
    ]
