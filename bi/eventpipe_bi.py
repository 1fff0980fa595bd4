"""Apache Superset on eventpipe's marts: set up, import the dashboard bundle, serve on 127.0.0.1.

Runs with bi/.venv's Python (Superset's own environment, `make bi`), never the Airflow one:

    bi/.venv/bin/python bi/eventpipe_bi.py setup   # metadata DB, admin user, warehouse + dashboard bundle
    bi/.venv/bin/python bi/eventpipe_bi.py serve   # http://127.0.0.1:8088/superset/dashboard/eventpipe/

State lives in $EVENTPIPE_HOME/bi (EVENTPIPE_HOME defaults to .eventpipe in the checkout): superset.db (Superset's
metadata, SQLite), secret_key and admin_password (generated at first setup, mode 0600).

The bundle (bi/dashboards/eventpipe) is Superset's YAML export format; `bundle` completes it from the dbt project,
so that nothing is defined twice: each dataset's columns and types are its mart's contract
(dbt_project/models/marts/<mart>.yml), each dataset metric is the semantic layer's metric of that name compiled to
SQL (dbt_project/models/semantic/*.yml), each chart's saved query (query_context, what the chart-data API serves) is
built from its params, and the database is the warehouse, read-only: the readers' snapshot of the embedded DuckDB
($EVENTPIPE_HOME/readers/read_snapshot.duckdb) or, with EVENTPIPE_BI_WAREHOUSE=snowflake, Snowflake as the reader
role (docs/bi.md).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import zipfile
from pathlib import Path

import yaml

BI = Path(__file__).resolve().parent
REPO = BI.parent
BUNDLE = BI / "dashboards" / "eventpipe"
MARTS = REPO / "dbt_project" / "models" / "marts"
SEMANTIC = REPO / "dbt_project" / "models" / "semantic"
ADMIN = "admin"
TEMPORAL = {"timestamp", "date"}
# A measure's aggregation (MetricFlow's agg) as SQL both DuckDB and Snowflake run.
AGGREGATIONS = {
    "sum": "sum({expr})",
    "count": "count({expr})",
    "count_distinct": "count(distinct {expr})",
    "average": "avg({expr})",
    "min": "min({expr})",
    "max": "max({expr})",
    "median": "median({expr})",
    "percentile": "percentile_cont({percentile}) within group (order by {expr})",
}


def eventpipe_home() -> Path:
    return Path(os.environ.get("EVENTPIPE_HOME") or REPO / ".eventpipe").resolve()


def bi_home() -> Path:
    return eventpipe_home() / "bi"


def environ() -> dict[str, str]:
    return {**os.environ, "EVENTPIPE_BI_HOME": str(bi_home()), "SUPERSET_CONFIG_PATH": str(BI / "superset_config.py"),
            "FLASK_APP": "superset.app:create_app()", "PYTHONPATH": str(BI)}  # fmt: skip


def private_file(path: Path, make) -> str:
    """The content of ``path``, created by ``make()`` with mode 0600 if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(make())
    return path.read_text().strip()


def warehouse_uri() -> str:
    if os.environ.get("EVENTPIPE_BI_WAREHOUSE", "duckdb") == "snowflake":
        # Credentials stay in the environment (the snowflake_reader connection's), never in the bundle or Superset's
        # metadata: Superset reads the password from the URI it is given here at import time (docs/bi.md).
        account, user = os.environ["SNOWFLAKE_READER_ACCOUNT"], os.environ["SNOWFLAKE_READER_USER"]
        database, role = os.environ["SNOWFLAKE_READER_DATABASE"], os.environ["SNOWFLAKE_READER_ROLE"]
        warehouse = os.environ["SNOWFLAKE_READER_WAREHOUSE"]
        return f"snowflake://{user}@{account}/{database}?role={role}&warehouse={warehouse}"
    snapshot = eventpipe_home() / "readers" / "read_snapshot.duckdb"
    return f"duckdb:///{snapshot}"


def contract_columns(mart: str) -> list[dict]:
    """A mart's columns as Superset dataset columns, from its dbt contract."""
    (model,) = [m for m in yaml.safe_load((MARTS / f"{mart}.yml").read_text())["models"] if m["name"] == mart]
    columns = []
    for column in model["columns"]:
        data_type = column["data_type"]
        data_type = "json" if "{{" in data_type else data_type  # the per-target JSON type (variant on Snowflake)
        columns.append({
            "column_name": column["name"], "type": data_type.upper(), "is_dttm": data_type in TEMPORAL,
            "groupby": True, "filterable": True, "description": " ".join(str(column.get("description", "")).split()),
        })  # fmt: skip
    return columns


def semantic_metrics() -> dict[str, dict]:
    """Every metric of the semantic layer as a Superset metric: {name: {metric_name, expression, ...}}."""
    measures, metrics = {}, {}
    for path in sorted(SEMANTIC.glob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for model in document.get("semantic_models", []):
            for measure in model.get("measures", []):
                template = AGGREGATIONS[measure["agg"]]
                params = measure.get("agg_params", {})
                measures[measure["name"]] = template.format(expr=measure.get("expr", measure["name"]), **params)
        metrics.update({metric["name"]: metric for metric in document.get("metrics", [])})

    def sql(name: str) -> str:
        metric = metrics[name]
        params = metric["type_params"]
        if metric["type"] == "simple":
            return measures[params["measure"]]
        if metric["type"] == "ratio":
            return f"cast({sql(params['numerator'])} as double) / nullif({sql(params['denominator'])}, 0)"
        raise ValueError(f"metric {name}: type {metric['type']} has no Superset expression here")

    return {
        name: {"metric_name": name, "verbose_name": metric.get("label", name), "expression": sql(name),
               "description": " ".join(str(metric.get("description", "")).split()), "metric_type": metric["type"]}
        for name, metric in metrics.items()
    }  # fmt: skip


def query_context(params: dict) -> str:
    """The chart's saved query (what GET /api/v1/chart/<id>/data/ runs), from its params as Superset's charts
    build it: the x-axis (with its time grain) and the series columns, the metrics, no post-processing."""
    columns: list = []
    if params.get("x_axis"):
        axis = {"columnType": "BASE_AXIS", "sqlExpression": params["x_axis"], "label": params["x_axis"],
                "expressionType": "SQL"}  # fmt: skip
        if params.get("time_grain_sqla"):
            axis["timeGrain"] = params["time_grain_sqla"]
        columns.append(axis)
    columns += params.get("groupby", [])
    query = {
        "columns": columns,
        "metrics": params["metrics"],
        "filters": [],
        "extras": {"having": "", "where": ""},
        "orderby": [],
        "row_limit": params.get("row_limit", 10000),
        "time_range": params.get("time_range"),
    }
    return json.dumps({"datasource": {"id": 0, "type": "table"}, "force": False, "queries": [query],
                       "form_data": params, "result_format": "json", "result_type": "full"})  # fmt: skip


def bundle(target: Path) -> Path:
    """The dashboard bundle as the zip Superset imports, completed from the dbt project (module docstring)."""
    metrics = semantic_metrics()
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(BUNDLE.rglob("*.yaml")):
            name = path.relative_to(BUNDLE).as_posix()
            config = yaml.safe_load(path.read_text())
            if name.startswith("databases/"):
                config["sqlalchemy_uri"] = warehouse_uri()
                if config["sqlalchemy_uri"].startswith("duckdb:"):
                    config["extra"]["engine_params"] = {"connect_args": {"read_only": True}}
            elif name.startswith("datasets/"):
                config["columns"] = contract_columns(config["table_name"])
                config["metrics"] = [metrics[metric] for metric in config["metrics"]]
            elif name.startswith("charts/"):
                config["query_context"] = query_context(config["params"])
            archive.writestr(f"eventpipe/{name}", yaml.safe_dump(config, sort_keys=False))
    return target


def setup() -> None:
    """Superset's metadata database (migrated), the admin user, roles and permissions, then the bundle: Superset's
    own CLI commands, run in this one process (each `superset` command would import Superset again, ~15 s)."""
    home = bi_home()
    private_file(home / "secret_key", lambda: secrets.token_urlsafe(48))
    password = private_file(home / "admin_password", lambda: secrets.token_urlsafe(18))
    os.environ.update(environ())
    from superset.app import create_app
    from superset.cli.main import superset

    runner = create_app().test_cli_runner()
    for args in (
        ["db", "upgrade"],
        ["fab", "create-admin", "--username", ADMIN, "--firstname", "eventpipe", "--lastname", "admin",
         "--email", "admin@localhost", "--password", password],
        ["init"],
        ["import-dashboards", "--path", str(bundle(home / "eventpipe_dashboards.zip")), "--username", ADMIN],
    ):  # fmt: skip
        result = runner.invoke(superset, args, catch_exceptions=False)
        if result.exit_code != 0:
            raise SystemExit(f"superset {args[0]} {args[1]} failed ({result.exit_code}):\n{result.output}")
    (home / "superset.db").chmod(0o600)  # users and their password hashes


def serve(port: int) -> None:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4", "--timeout", "120",
               "superset.app:create_app()"]  # fmt: skip
    print(f"Superset: http://127.0.0.1:{port}/superset/dashboard/eventpipe/  (user {ADMIN}, password in "
          f"{bi_home() / 'admin_password'})", flush=True)  # fmt: skip
    os.execve(command[0], command, environ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="metadata database, admin user, the warehouse and the dashboard bundle")
    commands.add_parser("bundle", help="write the completed bundle zip to $EVENTPIPE_HOME/bi and print its path")
    serve_parser = commands.add_parser("serve", help="the web server on 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("EVENTPIPE_BI_PORT", "8088")))
    args = parser.parse_args()
    if args.command == "setup":
        setup()
    elif args.command == "bundle":
        bi_home().mkdir(parents=True, exist_ok=True)
        print(bundle(bi_home() / "eventpipe_dashboards.zip"))
    else:
        serve(args.port)


if __name__ == "__main__":
    main()
