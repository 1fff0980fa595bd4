"""``eventpipe up`` / ``eventpipe run`` take Airflow's metadata database from Airflow's own variable when it is set
(Postgres here); SQLite under ``$EVENTPIPE_HOME`` is only the embedded default."""

from __future__ import annotations

import psycopg2
import pytest

from eventpipe.orchestrate import airflow_env
from tests.distributed import topology as topo

pytestmark = pytest.mark.distributed


def test_the_metadata_database_is_airflow_s_variable_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTPIPE_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    assert airflow_env.airflow_environ()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")

    database = topo.create_database()
    try:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
        env = airflow_env.airflow_environ()
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
        airflow_env.ensure_metadata_db(env)
        with psycopg2.connect(dbname=database, **topo.POSTGRES) as conn, conn.cursor() as cursor:
            cursor.execute("select count(*) from information_schema.tables where table_name = 'dag_run'")
            assert cursor.fetchone()[0] == 1, "airflow db migrate did not create Airflow's tables in Postgres"
        assert not (tmp_path / "airflow" / "airflow.db").exists(), "a SQLite database was created anyway"
    finally:
        topo.drop_database(database)
