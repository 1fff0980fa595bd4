"""Activity Explorer in the Airflow UI: the explorer's FastAPI app mounted at ``/explorer`` on the API
server, and a nav entry that shows it inside the UI (``/plugin/activity-explorer``).

Thin on purpose: the app lives in ``eventpipe.explorer`` (tested without Airflow). Importing this
file does no I/O; each request opens the warehouse ``EVENTPIPE_TARGET`` names (DuckDB read-only by default).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from eventpipe.explorer.app import create_app

_bearer = HTTPBearer(auto_error=False)


async def require_airflow_login(request: Request) -> None:
    """The explorer's data is for users signed in to this Airflow (UI cookie or API bearer token)."""
    from airflow.api_fastapi.core_api.security import get_user  # only in the API server, at request time

    await get_user(request, None, await _bearer(request))


class ActivityExplorerPlugin(AirflowPlugin):
    name = "activity_explorer"
    fastapi_apps = [
        {
            "name": "Activity Explorer",
            "app": create_app(api_dependencies=[Depends(require_airflow_login)]),
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
