"""Replay server fixtures: one app per session (its season is the one the tests compare to)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from nba_pipeline.replay.app import create_app
from nba_pipeline.replay.season import Season
from nba_pipeline.replay.settings import ReplaySettings

DAY = dt.date(2024, 11, 12)
"""A generated (not recorded) date with a full slate."""
PINNED = dt.date(2025, 2, 20)
"""The date the season is pinned to the balldontlie games recording."""
KEY = "replay-test-key"


def auth(upstream: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query params) carrying the upstream's API key the way it wants it."""
    headers = {"Authorization": KEY} if upstream == "balldontlie" else {}
    params = {"apiKey": KEY} if upstream == "oddsapi" else {}
    return headers, params


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app(ReplaySettings(seed=2025, latency_ms=0))


@pytest.fixture(scope="session")
def season(app: FastAPI) -> Season:
    """The season the app serves."""
    season: Season = app.state.season
    return season


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


class Upstream:
    """GET on one replayed upstream with its key, e.g. `Upstream(client, "oddsapi").json(...)`."""

    def __init__(self, client: TestClient, name: str) -> None:
        self.client = client
        self.name = name
        self.headers, self.key = auth(name)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        query = {**(params or {}), **self.key}
        return self.client.get(f"/{self.name}{path}", params=query, headers=self.headers)

    def json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        return response.json()


class ReplayFetcher:
    """The `Fetcher` a scraper's request builder calls, answered in-process by the replay app."""

    def __init__(self, client: httpx.AsyncClient, upstream: str) -> None:
        self.client = client
        self.upstream = upstream
        self.headers, self.key = auth(upstream)

    async def _get(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        url = f"/{self.upstream}{path}"
        response = await self.client.get(
            url, params={**(params or {}), **self.key}, headers=self.headers
        )
        response.raise_for_status()
        return response

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return (await self._get(path, params)).json()

    async def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        return (await self._get(path, params)).text
