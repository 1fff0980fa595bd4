"""The marts' contracts: a drifted column fails `dbt build` before the mart is written.

GIVEN a warehouse whose marts are built (tests/conftest.py `marts_warehouse`, a private copy) and a copy of the
dbt project,
WHEN one mart's SQL changes a column's type, renames a column or adds one, and dbt builds that mart,
THEN the build fails with dbt's contract error naming the column, and the mart in the warehouse is unchanged;
the unchanged copy builds (so it is the change that fails), and a breaking change released as a new model version
builds both versions side by side.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.dbt.project_copy import copy_project, dbt, edit
from tests.share.support import copy_warehouse

MART = "agg_platform_daily"
ERROR_RATE = """        cast(count(case when status in ('error', 'timeout') then 1 end) as double)
        / count(*) as error_rate,"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "dbt_project")


@pytest.fixture
def home(tmp_path: Path, marts_warehouse: Path) -> Path:
    copy_warehouse(marts_warehouse, tmp_path / "home")
    return tmp_path / "home"


def mart_rows(home: Path) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select * from marts.{MART} order by service_day_key").fetchall()


def build_mart(project: Path, home: Path, select: str = MART) -> tuple[int, str]:
    result = dbt(project, home, "build", "--select", select, "--exclude", "tag:ci_only", "--full-refresh")
    return result.returncode, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_the_unchanged_project_builds_the_mart(project: Path, home: Path) -> None:
    code, output = build_mart(project, home)
    assert code == 0, output[-4000:]
    assert mart_rows(home)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("change", "column"),
    [
        # retyped: the rate as text (a BI tool would get strings)
        (
            ERROR_RATE.replace("/ count(*) as error_rate,", "/ count(*) as varchar) as error_rate,").replace(
                "cast(count", "cast(cast(count", 1
            ),
            "error_rate",
        ),
        # renamed
        (ERROR_RATE.replace("as error_rate,", "as error_ratio,"), "error_ratio"),
        # added (a new column is a contract change too: declare it first)
        (ERROR_RATE + "\n        count(distinct event_date) as days,", "days"),
    ],
    ids=["retyped", "renamed", "added"],
)
def test_a_drifted_column_fails_the_build_with_the_contract_error(project, home, change, column) -> None:
    before = mart_rows(home)
    edit(project / "models" / "marts" / f"{MART}.sql", ERROR_RATE, change)

    code, output = build_mart(project, home)

    assert code != 0
    assert "This model has an enforced contract that failed" in output, output[-4000:]
    assert column in output
    assert mart_rows(home) == before  # nothing written


@pytest.mark.timeout(300)
def test_a_breaking_change_ships_as_a_new_version_beside_the_old_one(project: Path, home: Path) -> None:
    """The release path for a breaking change (dbt_project/README.md, "Changing a mart"): the new shape as v2, in
    its own SQL file and contract; v1 stays as it was, under the mart's old name, until its consumers move."""
    marts = project / "models" / "marts"
    (marts / f"{MART}_v2.sql").write_text(
        (marts / f"{MART}.sql").read_text().replace("as error_rate,", "as error_ratio,")
    )
    edit(
        marts / f"{MART}.yml",
        f"  - name: {MART}\n",
        f"  - name: {MART}\n    latest_version: 1\n    versions:\n"
        # v1 keeps its relation name (the consumers' marts.agg_platform_daily); v2 lands beside it
        f"      - v: 1\n        defined_in: {MART}\n        config:\n          alias: {MART}\n"
        "      - v: 2\n        columns:\n          - include: all\n            exclude: [error_rate]\n"
        "          - name: error_ratio\n            data_type: double\n",
    )

    # `run`: the mart's data tests name error_rate, which v2 renamed (a release moves them to v2 too)
    result = dbt(project, home, "run", "--select", MART, "--full-refresh")
    code, output = result.returncode, result.stdout + result.stderr

    assert code == 0, output[-4000:]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        v1 = {row[0] for row in con.execute(f"describe marts.{MART}").fetchall()}
        v2 = {row[0] for row in con.execute(f"describe marts.{MART}_v2").fetchall()}
    assert "error_rate" in v1 and "error_ratio" not in v1
    assert "error_ratio" in v2 and "error_rate" not in v2
