"""The Airflow REST API (v2) as ``eventpipe run`` reaches it when a scheduler is up: the calls a user's clicks make.

Where and as whom:

- the API server: ``EVENTPIPE_AIRFLOW_URL``, else Airflow's ``[api] base_url`` (``AIRFLOW__API__BASE_URL``, what
  ``eventpipe up`` sets for its API server), else ``http://localhost:8080`` (``eventpipe up``'s default);
- the login: ``EVENTPIPE_AIRFLOW_TOKEN`` (a JWT from ``POST /auth/token``), else ``EVENTPIPE_AIRFLOW_USERNAME`` /
  ``EVENTPIPE_AIRFLOW_PASSWORD``, else the embedded default's admin and the password Airflow's simple auth manager
  wrote under the Airflow home (``eventpipe up`` prints the same login).

Credentials are never printed: an error names the URL and the HTTP status, with the API's own words.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

DEFAULT_URL = "http://localhost:8080"
# SQLite under a busy scheduler answers a write with a 500 now and then: tried again, as a user would click again.
ATTEMPTS = 5
RETRY_SECONDS = 3


class AirflowApiError(RuntimeError):
    """The API server could not be reached, or refused a call."""


def base_url() -> str:
    if url := os.environ.get("EVENTPIPE_AIRFLOW_URL"):
        return url.rstrip("/")
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or DEFAULT_URL).rstrip("/")


def access_token(url: str) -> str:
    if token := os.environ.get("EVENTPIPE_AIRFLOW_TOKEN"):
        return token
    username = os.environ.get("EVENTPIPE_AIRFLOW_USERNAME")
    password = os.environ.get("EVENTPIPE_AIRFLOW_PASSWORD")
    if not (username and password):
        from eventpipe.local import up
        from eventpipe.orchestrate import airflow_env

        username = username or airflow_env.ADMIN_USER
        try:
            password = password or up.admin_password(timeout=5)
        except TimeoutError as error:
            raise AirflowApiError(
                f"no login for the Airflow API at {url}: set EVENTPIPE_AIRFLOW_TOKEN, or EVENTPIPE_AIRFLOW_USERNAME and"
                " EVENTPIPE_AIRFLOW_PASSWORD"
            ) from error
    from eventpipe.local import up

    try:
        return up.access_token(url, username, password)
    except (urllib.error.URLError, OSError) as error:
        raise AirflowApiError(f"could not sign in to the Airflow API at {url}: {_words(error)}") from error


@dataclass
class AirflowApi:
    url: str
    token: str

    @classmethod
    def from_environment(cls) -> AirflowApi:
        url = base_url()
        return cls(url, access_token(url))

    def call(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        """One ``/api/v2`` call as JSON; 5xx and connection errors are tried again a few times."""
        method = method or ("POST" if body is not None else "GET")
        for attempt in range(ATTEMPTS):
            request = urllib.request.Request(
                f"{self.url}/api/v2{path}",
                data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                method=method,
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return json.load(response)
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == ATTEMPTS - 1:
                    raise AirflowApiError(f"{method} {self.url}/api/v2{path}: {_words(error)}") from error
            except (urllib.error.URLError, OSError) as error:
                if attempt == ATTEMPTS - 1:
                    raise AirflowApiError(f"{method} {self.url}/api/v2{path}: {_words(error)}") from error
            time.sleep(RETRY_SECONDS)
        raise AssertionError("unreachable")

    def is_paused(self, dag_id: str) -> bool:
        return bool(self.call(f"/dags/{_quoted(dag_id)}")["is_paused"])

    def trigger(self, dag_id: str, conf: dict | None = None, note: str | None = None) -> str:
        """A manual run, as the UI's Trigger button makes it; its run id."""
        body = {"logical_date": None, "conf": conf or {}, "note": note}
        return self.call(f"/dags/{_quoted(dag_id)}/dagRuns", body)["dag_run_id"]

    def runs(self, dag_id: str, limit: int = 50) -> list[dict]:
        """The DAG's latest runs, newest first."""
        return self.call(f"/dags/{_quoted(dag_id)}/dagRuns?order_by=-id&limit={limit}")["dag_runs"]


def _quoted(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _words(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}: {error.read().decode(errors='replace')[:500]}"
    return str(getattr(error, "reason", error))
