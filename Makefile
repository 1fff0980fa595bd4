# eventpipe: every target does its own setup on a fresh machine (Python 3.11 + the package registries).
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else installed into the user's Python by pip (the only bootstrap step).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
export UV_LINK_MODE := copy

.PHONY: help setup demo test test-fast test-distributed lint format bench up clean-home manifest .uv-bootstrap browser node bi bi-env docs

help:
	@echo "make demo   - generate a day of events and run the whole pipeline locally (embedded default)"
	@echo "make test   - the test suite (unit, dbt, DAG integrity, end-to-end, Airflow REST); TEST_WORKERS=N for xdist"
	@echo "make test-fast - the edit loop: the suite without the Airflow, dbt, emulator, browser and slow tests"
	@echo "make test-distributed - the production topology as native processes: Postgres metadata, CeleryExecutor"
	@echo "                        on Redis, two workers, a backfill on the Snowflake emulator (needs Postgres, Redis)"
	@echo "make lint   - ruff + sqlfluff"
	@echo "make bench  - ingest benchmark (prints figures)"
	@echo "make up     - the Airflow UI with the project's DAGs"
	@echo "make bi     - Apache Superset on the marts (after make demo): http://127.0.0.1:8088/superset/dashboard/eventpipe/"
	@echo "make docs   - the dbt docs (every mart, column, metric and exposure) as a static site on http://127.0.0.1:8089"

.uv-bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

.venv/.synced: uv.lock pyproject.toml | .uv-bootstrap
	$(UV) sync --frozen --all-extras
	@touch $@

# The dbt manifest Cosmos renders the DAG from (so importing a DAG never runs dbt).
dbt_project/target/manifest.json: .venv/.synced $(shell find dbt_project -name '*.sql' -o -name '*.yml' 2>/dev/null | grep -v target/)
	$(RUN) dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet
	@touch $@

manifest: dbt_project/target/manifest.json

setup: .venv/.synced manifest

demo: setup
	$(RUN) eventpipe demo

# The Activity Explorer browser test drives Debian's Chromium through Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	@$(CHROMIUM) --version

# tests/explorer/test_url_state.py runs the explorer page's own state.js under Debian's Node (no npm package).
NODE ?= /usr/bin/node

node:
	@test -x $(NODE) || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs; }
	@$(NODE) --version

# The suite runs on TEST_WORKERS pytest-xdist workers (most tests wait on Airflow, dbt, DuckDB or a server in a
# child process, so two share 2 cores well); tests/conftest.py keeps a module's tests on one worker (the explorer's
# together: one shared build) and starts the heaviest first. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2
FAST := not (slow or airflow or dbt or emulator or browser or snowflake)

test: setup browser node bi-env
	$(RUN) pytest -n $(TEST_WORKERS) --no-loadscope-reorder

# The edit loop: everything but the slow kinds (markers in pyproject.toml).
test-fast: setup
	$(RUN) pytest -m "$(FAST)" -n $(TEST_WORKERS) --no-loadscope-reorder

# Needs PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379; creates and drops its own database.
test-distributed: setup
	$(RUN) pytest --distributed tests/distributed -ra -s

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) sqlfluff lint dbt_project
	$(RUN) sqlfluff lint --templater placeholder --warn-unused-ignores include/eventpipe/sql

format: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: setup
	$(RUN) python bench/ingest.py

up: setup
	$(RUN) eventpipe up

clean-home:
	rm -rf .eventpipe

# Apache Superset in its own environment (bi/pyproject.toml, bi/uv.lock: its pins differ from Airflow's).
bi/.venv/.synced: bi/uv.lock bi/pyproject.toml | .uv-bootstrap
	cd bi && $(UV) sync --frozen
	@touch $@

bi-env: bi/.venv/.synced

# Superset on the readers' snapshot that `make demo` published ($EVENTPIPE_HOME/readers/read_snapshot.duckdb).
BI_PORT ?= 8088
bi: bi-env
	@test -f "$${EVENTPIPE_HOME:-.eventpipe}/readers/read_snapshot.duckdb" || { echo "no read snapshot: run make demo first"; exit 1; }
	bi/.venv/bin/python bi/eventpipe_bi.py setup
	bi/.venv/bin/python bi/eventpipe_bi.py serve --port $(BI_PORT)

# The dbt docs as a static site (dbt docs generate --static: one static_index.html), served on 127.0.0.1. From the
# project alone (no warehouse needed): the columns and types are the marts' contracts.
DOCS_PORT ?= 8089
DOCS_DBT := --project-dir dbt_project --profiles-dir dbt_project --target-path target/docs
docs: setup
	$(RUN) dbt parse --quiet $(DOCS_DBT)
	$(RUN) dbt docs generate --static --no-compile --empty-catalog $(DOCS_DBT)
	@echo "dbt docs: dbt_project/target/docs/static_index.html, served on http://127.0.0.1:$(DOCS_PORT)/static_index.html"
	$(RUN) python -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory dbt_project/target/docs
