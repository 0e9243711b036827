"""The player identity as operators meet it: the overrides file, `nba-pipeline players
unmatched` through the scrapers service, and the dashboard's count per day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from libs.common.analytics import ANALYTICS_TABLES, PLAYER_MAP
from libs.common.players import OverridesError, load_overrides, name_key
from libs.common.sources.registry import raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.cli import app
from services.scrapers import dashboard
from services.scrapers.app import create_app
from tests.utils.fakes import fake_clients
from tests.utils.served import scrapers_at
from tests.utils.tables import ORCHESTRATION_TABLES

URL = "http://scrapers"
DAY = dt.date(2025, 2, 20)
NOW = dt.datetime(2025, 2, 21, 15, tzinfo=dt.UTC)
NAMES = [  # (day, source, name, player_id)
    (DAY, "oddsapi", "Nic Claxton", None),
    (DAY, "bettingpros", "Herb Jones", None),
    (DAY, "oddsapi", "Jaren Jackson Jr", 231),
    (DAY - dt.timedelta(days=2), "oddsapi", "Cam Thomas", None),
    (DAY - dt.timedelta(days=30), "oddsapi", "Bruce Brown Jr", None),
]


@pytest.fixture
def mapped() -> Iterator[DuckDBWarehouse]:
    """A warehouse whose player map holds NAMES."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.ensure_tables([*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES])
    warehouse.upsert(PLAYER_MAP, [
        {"game_date": day, "source": source, "name": name, "player_id": player_id,
         "nba_person_id": None, "player_name": None, "team_abbr": None,
         "matched_by": "name" if player_id else None, "built_at": NOW}
        for day, source, name, player_id in NAMES
    ])  # fmt: skip
    yield warehouse
    warehouse.close()


@pytest.fixture
def service(mapped: DuckDBWarehouse) -> Iterator[TestClient]:
    """The scrapers service over `mapped`, reachable by the CLI at URL."""
    with scrapers_at(URL, mapped) as client:
        yield client


def players(*args: str) -> Any:
    return CliRunner().invoke(app, ["players", "unmatched", *args, "--url", URL])


def test_unmatched_lists_every_name_no_player_matched_in_the_dates(service: TestClient) -> None:
    done = players("--from", "2025-02-18", "--to", "2025-02-20")
    assert done.exit_code == 0, done.output
    for name in ("Nic Claxton", "Herb Jones", "Cam Thomas"):
        assert name in done.output
    assert "Jaren Jackson Jr" not in done.output  # matched
    assert "Bruce Brown Jr" not in done.output  # outside the dates
    assert "unmatched names: 3" in done.output


def test_unmatched_refuses_dates_the_wrong_way_round(service: TestClient) -> None:
    done = players("--from", "2025-02-20", "--to", "2025-02-18")
    assert done.exit_code == 2 and "--to is before --from" in done.output


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "2025-02-20", "to": "2025-02-18"}, "from"),
     ({"from": "2023-01-01", "to": "2025-02-18"}, "to")],
)  # fmt: skip
def test_the_endpoint_names_the_parameter_to_fix(
    service: TestClient, params: dict[str, str], field: str
) -> None:
    answer = service.get("/admin/players/unmatched", params=params)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", field]


def test_the_dashboard_counts_unmatched_names_per_day(mapped: DuckDBWarehouse) -> None:
    page = dashboard.render(dashboard.collect(mapped, NOW))
    assert (
        '<tr data-day="2025-02-20"><td>2025-02-20</td><td class="warn num" data-col="unmatched">2</td>'
        in page
    )
    assert (
        '<tr data-day="2025-02-19"><td>2025-02-19</td><td class="ok num" data-col="unmatched">0</td>'
        in page
    )
    assert (
        'data-day="2025-02-18"><td>2025-02-18</td><td class="warn num" data-col="unmatched">1<'
        in page
    )
    assert 'data-day="2025-01-21"' not in page  # a week only


def test_the_checked_in_overrides_file_loads() -> None:
    overrides = load_overrides()
    assert overrides and all(o.key for o in overrides)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {source: fanduel, name: Nic Claxton, player_id: 1}", "entry 0: field 'source'"),
        ("- {source: oddsapi, name: '', player_id: 1}", "entry 0: field 'name'"),
        ("- {source: oddsapi, name: Nic Claxton, player_id: '1'}", "entry 0: field 'player_id'"),
        ("- {source: oddsapi, name: Nic Claxton}", "entry 0: field 'player_id'"),
        ("- oddsapi", "entry 0: expected a mapping"),
        ("source: oddsapi", "expected a list"),
        ("- {source: oddsapi, name: Nic Claxton, player_id: 1}\n"
         "- {source: oddsapi, name: NIC CLAXTON., player_id: 2}", "entry 1: field 'name' spells the same player as entry 0"),
    ],
)  # fmt: skip
def test_an_overrides_file_error_names_the_entry_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "player_overrides.yaml"
    path.write_text(text)
    with pytest.raises(OverridesError, match=message):
        load_overrides(path)


def test_a_name_key_ignores_what_books_spell_differently() -> None:
    assert len({name_key(n) for n in ("Nic Claxton", "NIC CLAXTON", "Nic  Claxton Jr.")}) == 1
    assert name_key("Jaden Ivey") != name_key("Jaden")  # `iv` only as a word
    assert name_key("Luka Dončić") == name_key("Luka Doncic")


def test_before_the_analytics_service_creates_the_map_both_say_so() -> None:
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.ensure_tables([*ORCHESTRATION_TABLES, *raw_tables()])
    page = dashboard.render(dashboard.collect(warehouse, NOW))
    assert "no player map yet: the analytics service creates it" in page
    with TestClient(create_app(clients=fake_clients(warehouse))) as client:
        answer = client.get(
            "/admin/players/unmatched", params={"from": "2025-02-20", "to": "2025-02-20"}
        )
    assert answer.status_code == 503 and "start the analytics service" in answer.json()["detail"]
    warehouse.close()
