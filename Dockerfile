# The production image: the official Airflow image of the locked version, the project installed from uv.lock
# (with the `distributed` extra: Celery on Redis, Postgres drivers), and the dbt manifest built at build time
# so no Airflow component ever runs dbt to render a DAG. docker-compose.yml builds it for every Airflow service.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM ghcr.io/astral-sh/uv:0.13.10 AS uv

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
COPY --from=uv /uv /usr/local/bin/uv

ENV EVENTPIPE_ROOT=/opt/eventpipe
WORKDIR /opt/eventpipe

# Dependencies first (their layer is reused while only the project changes): exactly what uv.lock pins.
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
RUN uv export --frozen --no-dev --extra distributed --no-emit-project --no-hashes -o /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project, editable from /opt/eventpipe: the package finds dags/, dbt_project/ and config/ beside it.
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 dbt_project ./dbt_project
COPY --chown=airflow:0 config ./config
RUN pip install --no-cache-dir --no-deps -e . \
    && DBT_SEND_ANONYMOUS_USAGE_STATS=False EVENTPIPE_HOME=/tmp/eventpipe \
       dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet \
    && test -f dbt_project/target/manifest.json \
    && rm -rf /tmp/eventpipe dbt_project/logs

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/eventpipe/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/eventpipe/plugins \
    DBT_PROFILES_DIR=/opt/eventpipe/dbt_project \
    EVENTPIPE_HOME=/opt/airflow/eventpipe
