"""`GET /executions/{id}` and `GET /admin/recent-executions` over a real (in-memory) warehouse."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.common.audit import record_run
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.app import create_app
from tests.utils.fakes import fake_clients

START = dt.datetime(2025, 2, 21, 11, tzinfo=dt.UTC)
RUNS = [
    # (scraper, workflow, status, game_date): one row a minute, oldest first
    ("bdl_games", "post_game_collection", "success", dt.date(2025, 2, 20)),
    ("bdl_box_scores", "post_game_collection", "success", dt.date(2025, 2, 20)),
    ("bdl_box_scores", "post_game_collection", "failed", dt.date(2025, 2, 19)),
    ("oddsa_events", "betting_lines", "no_data", dt.date(2025, 2, 21)),
    ("bdl_games", "MANUAL", "success", dt.date(2025, 2, 21)),
]


@pytest.fixture(scope="module")
def logged() -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    """A scrapers app whose execution log holds RUNS; returns the client and the rows."""
    warehouse = DuckDBWarehouse(":memory:")
    with TestClient(create_app(clients=fake_clients(warehouse))) as client:
        rows = []
        for minute, (scraper, workflow, status, day) in enumerate(RUNS):
            at = START + dt.timedelta(minutes=minute)
            row = {"execution_id": str(uuid.uuid4()), "scraper_name": scraper, "workflow": workflow,
                   "status": status, "game_date": day, "started_at": at, "finished_at": at}  # fmt: skip
            record_run(warehouse, **row)
            rows.append(row)
        yield client, rows


def listed(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/admin/recent-executions", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(page: dict[str, Any]) -> list[str]:
    return [run["execution_id"] for run in page["executions"]]


def newest_first(rows: list[dict[str, Any]], **match: Any) -> list[str]:
    wanted = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return [r["execution_id"] for r in reversed(wanted)]


def test_an_execution_is_found_by_its_id(logged: tuple[TestClient, list[dict[str, Any]]]) -> None:
    client, rows = logged
    response = client.get(f"/executions/{rows[2]['execution_id']}")
    assert response.status_code == 200
    body = response.json()
    assert (body["execution"]["scraper_name"], body["execution"]["status"]) == (
        "bdl_box_scores",
        "failed",
    )
    assert [h["execution_id"] for h in body["history"]] == [rows[2]["execution_id"]]


def test_an_unknown_execution_id_is_a_404_that_says_so(
    logged: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, _ = logged
    unknown = uuid.uuid4()
    response = client.get(f"/executions/{unknown}")
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"no run with execution_id '{unknown}'")


def test_a_malformed_execution_id_is_a_422_naming_it(
    logged: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, _ = logged
    response = client.get("/executions/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "execution_id"]


@pytest.mark.parametrize(
    "match",
    [
        {"scraper_name": "bdl_box_scores"},
        {"status": "success"},
        {"workflow": "post_game_collection"},
        {"game_date": dt.date(2025, 2, 21)},
        {"scraper_name": "bdl_games", "status": "success", "workflow": "MANUAL"},
    ],
)
def test_recent_executions_filter_newest_first(
    logged: tuple[TestClient, list[dict[str, Any]]], match: dict[str, Any]
) -> None:
    client, rows = logged
    assert ids(listed(client, **match)) == newest_first(rows, **match)


def test_recent_executions_filter_by_a_date_range(
    logged: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, rows = logged
    page = listed(client, **{"from": "2025-02-20", "to": "2025-02-20"})
    assert ids(page) == newest_first(rows, game_date=dt.date(2025, 2, 20))


def test_recent_executions_paginate_with_has_more(
    logged: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, rows = logged
    pages, offset = [], 0
    while True:
        page = listed(client, limit=2, offset=offset)
        pages.append(page)
        if not page["has_more"]:
            break
        offset += 2
    assert [len(p["executions"]) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in ids(p)] == newest_first(rows)


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"scraper_name": "bdl_gmes"}, "scraper_name", "unknown scraper 'bdl_gmes'; known: "),
        ({"status": "ok"}, "status", "'success', 'no_data' or 'failed'"),
        ({"game_date": "2025-13-01"}, "game_date", "valid date"),
        ({"from": "2025-02-21", "to": "2025-02-20"}, "from", "is after 'to'"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"offset": -1}, "offset", "greater than or equal to 0"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field(
    logged: tuple[TestClient, list[dict[str, Any]]], params: dict[str, Any], field: str, text: str
) -> None:
    client, _ = logged
    response = client.get("/admin/recent-executions", params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field] and text in error["msg"]
