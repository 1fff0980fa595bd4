"""The explorer's FastAPI app: the page, its static files and the JSON API (OpenAPI at /openapi.json).

Airflow mounts it at ``/explorer`` (``plugins/activity_explorer.py``) and passes its access check as ``access``: a
dependency that refuses (401/403) or returns the organizations the user may see (None: all), which every query then
carries. The page asks it too; its scripts and icon hold no data and are served to anyone. Routes are plain ``def``:
FastAPI runs them in its thread pool, so a DuckDB query never blocks the API server's event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from eventpipe.explorer.marts import ConfiguredMartsReader, MartsReader, WarehouseUnavailable
from eventpipe.explorer.models import (
    Charts,
    ColumnsResponse,
    DataRange,
    FacetResponse,
    JourneyPage,
    JourneyQuery,
    SessionDetail,
    TimeRange,
)
from eventpipe.explorer.service import DEFAULT_RUN_URL, Explorer, NotFound

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {
    "explorer.js": "text/javascript",
    "state.js": "text/javascript",
    "explorer.css": "text/css",
    "icon.svg": "image/svg+xml",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid filter, sort, paging or time range (the detail says which and why)"},
    503: {"description": "The warehouse is busy (a pipeline run is writing) or not built yet; retry later"},
}
Organizations = frozenset[str] | None  # the organizations a user may see; None: every one


async def everyone() -> Organizations:
    """The access check of the app on its own (tests, no Airflow): every organization."""
    return None


def create_app(
    warehouse: MartsReader | None = None,
    access: Callable[..., Awaitable[Organizations]] = everyone,
    run_url: str = DEFAULT_RUN_URL,
) -> FastAPI:
    scope = Depends(access)  # each route's organizations: the access check's answer
    explorer = Explorer(warehouse or ConfiguredMartsReader(), run_url=run_url)
    app = FastAPI(
        title="eventpipe Activity Explorer",
        version="1",
        description=(
            "Journeys (sessions) from the dbt marts, with filters, sorting and paging; one session's "
            "events with the DAG runs that loaded them; charts. Read-only; every value is a bound parameter."
        ),
    )

    @app.exception_handler(WarehouseUnavailable)
    def _unavailable(request: Request, error: WarehouseUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(NotFound)
    def _not_found(request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.get("/", include_in_schema=False)
    def page(request: Request, organizations: Organizations = scope):
        # Relative URLs in the page resolve against the trailing slash.
        if not request.url.path.endswith("/"):
            return RedirectResponse(request.url.path + "/")
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"No static file {name!r}")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    api = APIRouter(prefix="/api", responses=ERRORS)

    @api.get("/columns", response_model=ColumnsResponse, summary="The journeys table's columns and operators")
    def columns(organizations: Organizations = scope) -> ColumnsResponse:
        return explorer.columns()

    @api.post("/journeys/search", response_model=JourneyPage, summary="Journeys: filter, sort, page")
    def journeys(body: JourneyQuery, organizations: Organizations = scope) -> JourneyPage:
        return explorer.journeys(body, organizations)

    @api.get(
        "/sessions/{organization}/{journey_id}",
        response_model=SessionDetail,
        summary="One session of one organization: its row, its events in time order, the DAG runs that loaded them",
        description="A session is (organization, journey_id): session ids are unique only within an organization.",
        responses={404: {"description": "No such journey in that organization"}},
    )
    def session(
        organization: Annotated[str, PathParam(max_length=200)],
        journey_id: Annotated[str, PathParam(max_length=200)],
        organizations: Organizations = scope,
    ) -> SessionDetail:
        return explorer.session(organization, journey_id, organizations)

    @api.get("/charts", response_model=Charts, summary="Sessions per hour, quality by app, errors by service")
    def charts(
        organizations: Organizations = scope,
        start: Annotated[datetime | None, Query(description="ISO-8601; naive is UTC")] = None,
        end: Annotated[datetime | None, Query(description="ISO-8601, exclusive")] = None,
    ) -> Charts:
        try:
            time_range = TimeRange(start=start, end=end)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        return explorer.charts(time_range.start, time_range.end, organizations)

    @api.get("/range", response_model=DataRange, summary="How many sessions there are and when")
    def data_range(organizations: Organizations = scope) -> DataRange:
        return explorer.data_range(organizations)

    @api.get(
        "/facets/{column}",
        response_model=FacetResponse,
        summary="A text column's most frequent values (for 'is any of')",
        responses={404: {"description": "No such text column"}},
    )
    def facet(
        column: str,
        organizations: Organizations = scope,
        prefix: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> FacetResponse:
        return explorer.facet(column, prefix, limit, organizations)

    app.include_router(api)
    return app
