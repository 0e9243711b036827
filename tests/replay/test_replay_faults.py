"""Injected faults and request counts, and the settings that shape every response."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from nba_pipeline.replay.app import create_app
from nba_pipeline.replay.settings import ReplaySettings
from tests.replay.conftest import DAY, Upstream

GAMES = ("/v1/games", {"dates[]": DAY.isoformat()})


@pytest.fixture
def fresh() -> Iterator[TestClient]:
    """An app of its own, so armed faults and counts never leak between tests."""
    with TestClient(create_app(ReplaySettings(seed=2025, latency_ms=0))) as client:
        yield client


def test_429_with_retry_after_then_success_and_counts(fresh: TestClient) -> None:
    armed = fresh.post(
        "/_control/faults",
        json={"prefix": "/balldontlie", "status": 429, "count": 1, "retry_after": 2},
    )
    assert armed.status_code == 201
    bdl = Upstream(fresh, "balldontlie")
    failed = bdl.get(*GAMES)
    assert failed.status_code == 429 and failed.headers["Retry-After"] == "2"
    assert "error" in failed.json()
    assert bdl.get(*GAMES).status_code == 200
    assert (
        Upstream(fresh, "espn").get("/apis/site/v2/sports/basketball/nba/scoreboard").status_code
        == 200
    )
    counts = fresh.get("/_control/requests").json()
    assert counts == {"requests": {"/balldontlie": 2, "/espn": 1}, "faulted": {"/balldontlie": 1}}
    assert fresh.delete("/_control/requests").status_code == 204
    assert fresh.get("/_control/requests").json() == {"requests": {}, "faulted": {}}


def test_fault_for_every_upstream_counts_down_and_clears(fresh: TestClient) -> None:
    fresh.post("/_control/faults", json={"prefix": None, "status": 503, "count": 3})
    odds = Upstream(fresh, "oddsapi")
    first = odds.get("/v4/sports/basketball_nba/events")
    assert first.status_code == 503 and "Retry-After" not in first.headers
    assert first.json()["error_code"] == "INTERNAL_ERROR"
    assert Upstream(fresh, "bettingpros").get("/v3/events").status_code == 503
    assert fresh.get("/_control/faults").json()["armed"][0]["left"] == 1
    assert fresh.get("/health").status_code == 200, "control and health routes are never faulted"
    assert fresh.delete("/_control/faults").status_code == 204
    assert odds.get("/v4/sports/basketball_nba/events").status_code == 200


def test_faults_are_used_in_the_order_armed(fresh: TestClient) -> None:
    for status in (500, 429):
        fresh.post("/_control/faults", json={"prefix": "/espn", "status": status})
    espn = Upstream(fresh, "espn")
    path = "/apis/site/v2/sports/basketball/nba/scoreboard"
    assert [espn.get(path).status_code for _ in range(3)] == [500, 429, 200]


def test_latency_only_fault_then_answers(fresh: TestClient) -> None:
    fresh.post(
        "/_control/faults", json={"prefix": "/bettingpros", "status": None, "latency_ms": 120}
    )
    started = time.perf_counter()
    assert (
        Upstream(fresh, "bettingpros").get("/v3/events", {"date": DAY.isoformat()}).status_code
        == 200
    )
    assert time.perf_counter() - started >= 0.12
    assert fresh.get("/_control/requests").json()["faulted"] == {}


def test_bad_fault_is_rejected(fresh: TestClient) -> None:
    assert (
        fresh.post("/_control/faults", json={"prefix": "/nowhere", "status": 429}).status_code
        == 422
    )
    assert (
        fresh.post("/_control/faults", json={"prefix": "/espn", "status": 418}).status_code == 422
    )
    assert fresh.post("/_control/faults", json={"prefix": "espn", "count": 0}).status_code == 422


def test_settings_latency_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_SEED", "7")
    monkeypatch.setenv("REPLAY_LATENCY_MS", "60")
    monkeypatch.setenv("REPLAY_PORT", "9999")
    settings = ReplaySettings()
    assert (settings.seed, settings.latency_ms, settings.port) == (7, 60, 9999)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["seed"] == 7
        started = time.perf_counter()
        assert (
            Upstream(client, "espn")
            .get("/apis/site/v2/sports/basketball/nba/scoreboard")
            .status_code
            == 200
        )
        assert time.perf_counter() - started >= 0.06
