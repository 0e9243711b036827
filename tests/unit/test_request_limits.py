"""Oversized and malformed request bodies get a clear 4xx before any route work."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.common.settings import CommonSettings
from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from services.scrapers.app import create_app as scrapers_app
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import fake_clients

LIMIT = 4096


def app_of(service: str) -> FastAPI:
    """A service's app, made per test: one made at collection would keep its warehouse open
    until the interpreter exits."""
    common = CommonSettings(max_body_bytes=LIMIT)
    if service == "scrapers":
        return scrapers_app(ScraperSettings(max_body_bytes=LIMIT), fake_clients())
    return {"processors": processors_app, "analytics": analytics_app}[service](
        common, fake_clients()
    )


@pytest.fixture(params=["scrapers", "processors", "analytics"])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with TestClient(app_of(request.param)) as running:  # runs the lifespan: the scrapers' runner
        yield running


def test_body_over_the_limit_is_413_naming_the_limit(client: TestClient) -> None:
    body = json.dumps({"scraper_name": "bdl_games", "params": {"pad": "x" * LIMIT}})
    response = client.post("/process", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert f"{LIMIT} bytes" in response.json()["detail"]


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"scraper_name": "bdl_games", "params": {"pad": "'
        for _ in range(LIMIT // 512 + 1):
            yield b"x" * 512
        yield b'"}}'

    response = client.post(
        "/process", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_malformed_json_is_422_pointing_at_the_body(client: TestClient) -> None:
    response = client.post(
        "/process", content=b'{"scraper_name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"


def test_body_under_the_limit_reaches_the_route(client: TestClient) -> None:
    response = client.post("/process", json={"scraper_name": "no_such_scraper"})
    assert response.status_code in {400, 422}
    assert response.status_code != 413
