"""Every DAG parses with no connections and no warehouse, with tags, retries, docs and no cycles."""

from __future__ import annotations

import os
import time

import pytest

from eventpipe.orchestrate import airflow_env


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("integrity_home")
    env = airflow_env.airflow_environ({"EVENTPIPE_HOME": str(home), "PATH": os.environ["PATH"]})
    # No AIRFLOW_CONN_* and no warehouse file: parsing must not need either.
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from airflow.dag_processing.dagbag import DagBag

        started = time.perf_counter()
        bag = DagBag(dag_folder=env["AIRFLOW__CORE__DAGS_FOLDER"])
        bag.parse_seconds = time.perf_counter() - started
        yield bag
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert not (home / "warehouse.duckdb").exists(), "parsing DAGs opened the warehouse"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "event_pipeline" in dagbag.dags
    assert "share_sync" in dagbag.dags


def test_share_sync_checks_params_then_plans_and_is_a_dry_run_by_default(dagbag):
    dag = dagbag.dags["share_sync"]
    assert dag.get_task("check_params").downstream_task_ids == {"plan", "apply"}
    assert dag.get_task("plan").downstream_task_ids == {"apply"}
    assert dag.params["dry_run"] is True and dag.params["target"] == "local"
    for name, param in dag.params.items():
        assert param.description, f"share_sync param {name} has no description"


def test_redeliver_checks_params_then_plans_and_is_a_dry_run_by_default(dagbag):
    dag = dagbag.dags["redeliver"]
    assert dag.get_task("check_params").downstream_task_ids == {"plan", "resend"}
    assert dag.get_task("plan").downstream_task_ids == {"resend"}
    assert dag.get_task("check_params").retries == 0  # a bad parameter is not retried
    assert dag.params["dry_run"] is True
    for name, param in dag.params.items():
        assert param.description, f"redeliver param {name} has no description"


# Tasks that only check a run's parameters: a retry cannot fix a bad parameter.
NO_RETRIES = {("redeliver", "check_params")}


def test_every_dag_has_tags_docs_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            if (dag_id, task.task_id) not in NO_RETRIES:
                assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_no_cycles_and_pipeline_order(dagbag):
    from airflow.sdk.definitions.dag import DAG  # noqa: F401  (the SDK DAG is what DagBag returns)

    dag = dagbag.dags["event_pipeline"]
    dag.topological_sort()  # raises on a cycle
    load, reconcile = dag.get_task("load_raw_events"), dag.get_task("reconcile")
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt_marts.")]
    assert dbt_tasks, "the dbt task group rendered no tasks"
    assert {t.task_id for t in load.get_flat_relatives(upstream=False)} >= {t.task_id for t in dbt_tasks}
    # Deliveries read raw: they follow the load and reconcile, never a dbt task (a failing test must not hold them).
    deliver = dag.get_task("deliver")
    assert reconcile.upstream_task_ids == {"load_raw_events"} and deliver.upstream_task_ids == {"reconcile"}
    assert not {t.task_id for t in deliver.get_flat_relatives(upstream=True)} & {t.task_id for t in dbt_tasks}
    # check_volume follows the load and nothing waits for it
    check = dag.get_task("check_volume")
    assert check.upstream_task_ids == {"load_raw_events"} and check.downstream_task_ids == set()


def test_marts_render_one_task_per_model(dagbag):
    dag = dagbag.dags["event_pipeline"]
    task_ids = {t.task_id for t in dag.tasks}
    for model in ("fct_sessions", "fct_session_events", "agg_app_daily", "agg_platform_daily"):
        assert any(model in task_id for task_id in task_ids), f"no task for {model}"


def test_parsing_is_fast_and_does_no_io(dagbag):
    # A generous bound: the manifest makes parsing cheap; dbt parsing at import would take many seconds.
    assert dagbag.parse_seconds < 30


def _hourly_tests_per_model() -> dict[str, set[str]]:
    """From the manifest itself: each model's tests that the hourly build runs (not tagged ci_only)."""
    import json

    from eventpipe.orchestrate.dbt_config import MANIFEST_PATH

    nodes = json.loads(MANIFEST_PATH.read_text())["nodes"]
    tests: dict[str, set[str]] = {}
    for unique_id, node in nodes.items():
        if node["resource_type"] == "test" and "ci_only" not in node["config"].get("tags", []):
            for parent in node["depends_on"]["nodes"]:
                tests.setdefault(parent, set()).add(unique_id)
    return tests


def test_each_test_task_waits_for_exactly_the_hourly_tests_of_its_model(dagbag):
    # Cosmos reports a model's tests once every test it expects has a result. Expecting the CI-only
    # tests too (which the hourly build excludes), the report never came and every `.test` task
    # passed as "not run", whatever its tests did.
    dag = dagbag.dags["event_pipeline"]
    producer = dag.get_task("dbt_marts.dbt_producer_watcher")
    expected = _hourly_tests_per_model()
    watched = {model: set(tests) for model, tests in producer.tests_per_model.items()}
    assert watched["model.eventpipe.fct_sessions"] == expected["model.eventpipe.fct_sessions"]
    assert watched == {model: tests for model, tests in expected.items() if model in watched}
    assert "model.eventpipe.stg_raw__session_events" not in watched  # its only test is CI-only


def test_sensors_poke_once_the_build_is_over_and_dbt_parses_partially(dagbag):
    from eventpipe.orchestrate.dbt_config import dbt_cache_dir

    dag = dagbag.dags["event_pipeline"]
    producer = dag.get_task("dbt_marts.dbt_producer_watcher")
    # dbt's partial parse survives Cosmos' fresh copy of the project each run
    assert producer.cache_dir == dbt_cache_dir()
    sensors = [t for t in dag.tasks if t.task_id.startswith("dbt_marts.") and hasattr(t, "poke")]
    for sensor in sensors:
        assert producer.task_id in sensor.get_flat_relative_ids(upstream=True), sensor.task_id
        has_outcome = not sensor.is_test_sensor or sensor.model_unique_id in producer.tests_per_model
        # every sensor pokes (once: the build is over); one with no outcome to read (a model whose tests
        # are all CI-only) succeeds once the build has, instead of deferring to Cosmos' trigger
        assert sensor.deferrable is False, sensor.task_id
        assert sensor.expects_no_outcome is not has_outcome, sensor.task_id
        assert sensor.poke_interval <= 1 and sensor.timeout <= 600, sensor.task_id


def test_the_dbt_group_rebuilds_on_a_rerun(dagbag):
    # A Clear raises every cleared task's try number: Cosmos' producer skips any try but its first, and a
    # model's task on a later try runs its own model with dbt, one dbt start-up per model. Here the
    # producer builds on every try and the models' tasks report a build made in their Clear.
    from eventpipe.orchestrate.watcher_rerun import RebuildingProducerWatcherOperator, RerunRunWatcherOperator

    dag = dagbag.dags["event_pipeline"]
    producer = dag.get_task("dbt_marts.dbt_producer_watcher")
    assert type(producer) is RebuildingProducerWatcherOperator
    sensors = [t for t in dag.tasks if t.task_id.startswith("dbt_marts.") and hasattr(t, "poke")]
    assert len(sensors) == 20  # still one task per model and one per model's tests
    for sensor in sensors:
        assert type(sensor).__module__ == RerunRunWatcherOperator.__module__, (sensor.task_id, type(sensor))
        assert sensor.producer_task_id == producer.task_id


def test_one_dbt_build_at_a_time_and_a_hung_build_times_out(dagbag):
    # Loads of several hours run at once on Snowflake, builds do not: each absorbs every load commit above the last
    # the marts absorbed, and two at once contend for the same tables (on the emulator the second one hangs).
    from airflow.serialization.serialized_objects import DagSerialization

    from eventpipe.orchestrate.dbt_config import BUILD_TIMEOUT

    dag = dagbag.dags["event_pipeline"]
    # What the scheduler reads is the serialized DAG: the limit must survive the round trip.
    scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    for version in (dag, scheduled):
        producer = version.get_task("dbt_marts.dbt_producer_watcher")
        assert producer.max_active_tis_per_dag == 1
        assert producer.execution_timeout == BUILD_TIMEOUT
    limited = [t.task_id for t in dag.tasks if t.max_active_tis_per_dag is not None]
    assert limited == ["dbt_marts.dbt_producer_watcher"], "loads and the models' tasks stay concurrent"


def test_the_continuous_dags_hand_over_by_the_load_commit_asset(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    from eventpipe.orchestrate.assets import LOAD_COMMITS, raw_assets, table_uri

    load = dagbag.dags["load_events"]
    assert load.timetable.summary == "* * * * *"
    assert load.get_task("load").downstream_task_ids == {"reconcile_loaded", "announce"}
    assert {a.uri for a in load.get_task("announce").outlets} == {a.uri for a in raw_assets()}
    assert not load.get_task("load").outlets  # an idle poll emits nothing: only announce does, when it committed
    for dag_id in ("deliver_events", "transform"):
        dag = dagbag.dags[dag_id]
        assert isinstance(dag.timetable, AssetOrTimeSchedule), dag_id
        assert {a.uri for a in dag.timetable.asset_condition.objects} == {table_uri(LOAD_COMMITS)}
        assert dag.max_active_runs == 1
    assert any(t.task_id.startswith("dbt_marts.") for t in dagbag.dags["transform"].tasks)
    assert {"reconcile", "check_volume"} <= set(dagbag.dags["hourly_checks"].task_ids)
