"""`nba-pipeline export` through the scrapers service's `/admin/export`: the rows round-trip."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from libs.common.analytics import ANALYTICS_TABLES, PLAYER_GAME_LINES
from libs.common.sources.registry import raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.cli import app
from tests.utils.props import DAY, YESTERDAY, fill_two_days
from tests.utils.served import scrapers_at
from tests.utils.tables import ORCHESTRATION_TABLES

URL = "http://scrapers"
RANGE = ("--from", YESTERDAY.isoformat(), "--to", DAY.isoformat())


@pytest.fixture(scope="module")
def warehouse() -> Iterator[DuckDBWarehouse]:
    filled = DuckDBWarehouse(":memory:")
    filled.ensure_tables([*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES])
    fill_two_days(filled)
    yield filled
    filled.close()


@pytest.fixture
def service(warehouse: DuckDBWarehouse) -> Iterator[TestClient]:
    """The scrapers service over `warehouse`, reachable by the CLI at URL."""
    with scrapers_at(URL, warehouse) as client:
        yield client


def stored(warehouse: DuckDBWarehouse) -> list[dict[str, Any]]:
    columns = ", ".join(PLAYER_GAME_LINES.column_names)
    return warehouse.query(
        f"SELECT {columns} FROM {{nba_analytics.player_game_lines}} "
        "WHERE game_date BETWEEN @a AND @b ORDER BY game_date, player_id, source, bookmaker, market",
        {"a": YESTERDAY, "b": DAY},
    )


def export(*args: str) -> Any:
    return CliRunner().invoke(app, ["export", *args, "--url", URL])


def test_parquet_holds_the_tables_rows_with_their_types(
    service: TestClient, warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    out = tmp_path / "lines.parquet"
    done = export(
        "--table", PLAYER_GAME_LINES.fqn, *RANGE, "--format", "parquet", "--out", str(out)
    )
    assert done.exit_code == 0, done.output
    expected = stored(warehouse)
    assert f"{len(expected)} rows of nba_analytics.player_game_lines" in done.output
    result = duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(out)])
    names = [d[0] for d in result.description or []]
    assert names == list(PLAYER_GAME_LINES.column_names)
    assert [dict(zip(names, row, strict=True)) for row in result.fetchall()] == expected


def test_csv_has_a_header_and_one_line_per_row(
    service: TestClient, warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    out = tmp_path / "lines.csv"
    done = export("--table", PLAYER_GAME_LINES.fqn, *RANGE, "--out", str(out))
    assert done.exit_code == 0, done.output
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    expected = stored(warehouse)
    assert [(r["game_date"], r["player_name"], r["market"], float(r["line"])) for r in rows] == [
        (str(e["game_date"]), e["player_name"], e["market"], e["line"]) for e in expected
    ]
    assert {r["over_clv"] for r in rows if r["movement"] != "0.0"} == {""}, "NULL is empty"


def test_only_analytics_tables_are_exported(service: TestClient, tmp_path: Path) -> None:
    done = export("--table", "nba_raw.bdl_player_boxscores", *RANGE, "--out", str(tmp_path / "x"))
    assert done.exit_code == 2
    assert "nba_analytics.player_game_lines" in done.output and not (tmp_path / "x").exists()
    answer = service.get(
        "/admin/export", params={"table": "nba_orchestration.alerts", "date": DAY.isoformat()}
    )
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["query", "table"] and "nba_analytics.player_map" in error["msg"]


def test_dates_the_wrong_way_round_are_refused(service: TestClient) -> None:
    done = export("--table", PLAYER_GAME_LINES.fqn, "--from", DAY.isoformat(), "--to", "2025-01-01")
    assert done.exit_code == 2 and "--to is before --from" in done.output
