"""Which DuckDB errors are another writer's (retried by ``commits.retry_conflicts``): measured on real DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from eventpipe.warehouse import commits

INSERT_ONCE = """
insert into sequence (name, last_value)
select 'delivery_claim', 0 where not exists (select 1 from sequence where name = 'delivery_claim')
"""


@pytest.fixture
def two_connections(tmp_path):
    path = str(tmp_path / "w.duckdb")
    first = duckdb.connect(path)
    first.execute("create table sequence (name varchar primary key, last_value bigint)")
    second = duckdb.connect(path)
    yield first, second
    first.close()
    second.close()


def test_a_key_another_transaction_committed_first_is_a_conflict_and_the_retry_finds_it(two_connections):
    """Two runs creating the ledger's tables at once: both insert the row, the second's commit fails."""
    first, second = two_connections
    first.begin()
    second.begin()
    first.execute(INSERT_ONCE)
    second.execute(INSERT_ONCE)
    first.commit()
    with pytest.raises(duckdb.TransactionException) as failed:
        second.commit()
    assert "duplicate key" in str(failed.value).lower()
    assert commits.is_conflict(failed.value)
    second.execute(INSERT_ONCE)  # the retry: the row is there now, nothing inserted
    assert second.execute("select count(*) from sequence").fetchone() == (1,)


def test_a_duplicate_the_statement_itself_sees_is_not_a_conflict(two_connections):
    first, _ = two_connections
    first.execute("insert into sequence values ('delivery_claim', 0)")
    with pytest.raises(duckdb.ConstraintException) as failed:
        first.execute("insert into sequence values ('delivery_claim', 1)")
    assert not commits.is_conflict(failed.value)
