"""Lineage: the ``eventpipe://`` Assets on the tasks that write them, and the same names in OpenLineage events.

- ``provider_info`` is this package's ``apache_airflow_provider`` entry point (pyproject.toml): it registers
  the ``eventpipe`` scheme with Airflow, with a URI check and a converter to OpenLineage datasets, so the
  OpenLineage provider turns every task's Asset inlets and outlets into ``namespace`` + ``name`` datasets
  (``eventpipe://warehouse`` + ``marts.fct_sessions``) instead of dropping an unknown scheme.
- ``declare_model_assets`` gives each dbt model's task (Cosmos, watcher mode) its model as outlet and the
  models or sources it selects from as inlets, from the dbt graph the DAG was rendered with: the Assets graph
  reads raw -> staging -> marts with a producing task for each. Cosmos' own datasets are off
  (``RenderConfig(emit_datasets=False)``): they were named after the engine and this machine's DuckDB path.
- ``share_lineage``: the share's views and the marts they read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

from eventpipe.orchestrate import assets


def provider_info() -> dict[str, Any]:
    return {
        "package-name": "eventpipe",
        "name": "eventpipe",
        "description": "eventpipe's asset URI scheme (eventpipe://landing, warehouse, deliveries) for lineage.",
        "asset-uris": [
            {
                "schemes": [assets.SCHEME],
                "handler": "eventpipe.orchestrate.lineage.sanitize_uri",
                "to_openlineage_converter": "eventpipe.orchestrate.lineage.to_openlineage_dataset",
            }
        ],
    }


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's check of an ``eventpipe://`` URI: a known namespace and a dataset name, nothing else."""
    namespace = f"{uri.scheme}://{uri.netloc}"
    name = uri.path.lstrip("/")
    if namespace not in assets.NAMESPACES:
        raise ValueError(f"eventpipe URI namespace must be one of {', '.join(assets.NAMESPACES)}, not {namespace}")
    if not assets.DATASET_NAME.fullmatch(name) or uri.query or uri.fragment:
        raise ValueError(f"an eventpipe URI is {namespace}/<name>, one dataset name without query or fragment")
    return uri


def to_openlineage_dataset(asset, lineage_context=None):
    """The OpenLineage dataset of an ``eventpipe://`` Asset: the URI split into namespace and name."""
    from openlineage.client.event_v2 import Dataset

    namespace, _, name = asset.uri.rpartition("/")
    return Dataset(namespace=namespace, name=name)


def _model_table(node) -> str | None:
    """``schema.table`` of a dbt model or source node, as the warehouse names it; None for ephemeral models."""
    from cosmos.constants import DbtResourceType

    if node.resource_type == DbtResourceType.SOURCE:
        # source.<project>.<source name>.<table>: the raw sources are named after their schema (_raw__sources.yml).
        source, table = node.unique_id.split(".")[-2:]
        return f"{source}.{table}"
    if node.resource_type != DbtResourceType.MODEL or node.config.get("materialized") == "ephemeral":
        return None
    schema = node.config.get("schema")  # generate_schema_name.sql: the custom schema as-is, on every target
    if not schema:
        raise ValueError(f"{node.unique_id} has no custom schema: give it one (staging, marts) for its Asset name")
    return f"{schema}.{node.config.get('alias') or node.unique_id.split('.')[-1]}"


def model_lineage(nodes: dict) -> dict[str, tuple[list[str], str]]:
    """Per model unique id: (the tables it reads, the table it writes), ephemeral models seen through."""

    def reads(unique_id: str, seen: frozenset = frozenset()) -> list[str]:
        found = []
        for parent in nodes[unique_id].depends_on:
            if parent not in nodes or parent in seen:
                continue
            table = _model_table(nodes[parent])
            for name in [table] if table else reads(parent, seen | {parent}):
                if name not in found:
                    found.append(name)
        return found

    lineage = {}
    for unique_id, node in nodes.items():
        written = _model_table(node)
        if written and not unique_id.startswith("source."):
            lineage[unique_id] = (reads(unique_id), written)
    return lineage


def declare_model_assets(group) -> None:
    """Each model's task (``<model>.run``) in a Cosmos ``DbtTaskGroup``: outlet its model, inlets what it reads.

    The watcher producer runs the one ``dbt build``; the model's own task succeeds once its model is built, so
    the model's Asset event (and its OpenLineage COMPLETE event) comes from the task that reports that model.
    The producer's OpenLineage event keeps the same names: what the build read (the sources) and wrote.
    """
    from cosmos.constants import PRODUCER_WATCHER_TASK_ID

    lineage = model_lineage(group.dbt_graph.nodes)
    for task in group:
        model = getattr(task, "model_unique_id", None)
        if model in lineage and not getattr(task, "is_test_sensor", False) and hasattr(task, "poke"):
            read, written = lineage[model]
            task.inlets = [assets.asset(assets.table_uri(table)) for table in read]
            task.outlets = [assets.asset(assets.table_uri(written))]
        elif task.task_id == f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}":
            producer = task
    written = {table for _, table in lineage.values()}
    sources = sorted({table for read, _ in lineage.values() for table in read} - written)
    producer.get_openlineage_facets_on_complete = _BuildLineage(sources, sorted(written))


class _BuildLineage:
    """The watcher producer's OpenLineage inputs and outputs, in ``eventpipe://`` names.

    Cosmos would derive them from dbt's artifacts, named ``duckdb://<this machine's path>`` or
    ``snowflake://<account>``: two names for one table depending on the engine.
    """

    def __init__(self, reads: list[str], writes: list[str]) -> None:
        self.reads, self.writes = reads, writes

    def __call__(self, task_instance=None):
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset

        def datasets(tables):
            return [Dataset(namespace=assets.WAREHOUSE, name=table) for table in tables]

        return OperatorLineage(inputs=datasets(self.reads), outputs=datasets(self.writes))


def share_lineage() -> tuple[list, list]:
    """(inlets, outlets) of the task that builds the share: the marts the views read, the views."""
    from eventpipe.share.views import VIEWS

    marts = sorted({view.mart for view in VIEWS})
    inlets = [assets.asset(assets.table_uri(f"marts.{mart}")) for mart in marts]
    outlets = [assets.asset(assets.share_view_uri(view.name)) for view in VIEWS]
    return inlets, outlets
