"""The upstream HTTP client: retries, Retry-After, circuit breakers, proxy rotation, no leaked keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import respx

from libs.common.sources.upstreams import UPSTREAMS
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.stack import free_port
from services.scrapers.breakers import BreakerRegistry
from services.scrapers.fetcher import CircuitOpenError, HttpFetcher, UpstreamError, wait_retry_after
from services.scrapers.runner import ScrapeRunner
from services.scrapers.settings import ScraperSettings
from services.scrapers.tables import CIRCUIT_BREAKER_STATE
from tests.utils.faults import dropping_port
from tests.utils.receivers import json_upstream

BASE = "https://api.balldontlie.io"
KEY = "super-secret-key"


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    w.ensure_tables([CIRCUIT_BREAKER_STATE])
    yield w
    w.close()


def fetcher(warehouse: DuckDBWarehouse, **overrides: object) -> HttpFetcher:
    settings = ScraperSettings.model_validate(
        {"odds_api_key": KEY, "bdl_api_key": KEY, **overrides}
    )
    providers = [p.name for p in settings.proxies] or ["direct"]
    clients = {name: httpx.AsyncClient(headers={"X-Provider": name}) for name in providers}
    return HttpFetcher(clients, settings, "balldontlie", BreakerRegistry(warehouse, 3, 300))


def get(f: HttpFetcher) -> object:
    return asyncio.run(f.get_json("/v1/games", {"dates[]": "2025-02-20"}))


@respx.mock
def test_429_then_success_is_retried(warehouse: DuckDBWarehouse) -> None:
    route = respx.get(f"{BASE}/v1/games").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"data": []}),
        ]
    )
    assert get(fetcher(warehouse)) == {"data": []}
    assert route.call_count == 2
    assert route.calls[0].request.headers["Authorization"] == KEY


def test_retry_after_is_honoured_and_capped() -> None:
    def state(headers: dict[str, str]) -> SimpleNamespace:
        error = httpx.HTTPStatusError(
            "x", request=httpx.Request("GET", BASE), response=httpx.Response(429, headers=headers)
        )
        return SimpleNamespace(outcome=SimpleNamespace(exception=lambda: error), attempt_number=1)

    assert wait_retry_after(state({"Retry-After": "7"})) == 7  # type: ignore[arg-type]
    assert wait_retry_after(state({"Retry-After": "9999"})) == 60  # type: ignore[arg-type]
    assert 0 <= wait_retry_after(state({})) <= 8  # type: ignore[arg-type]


@respx.mock
def test_404_is_not_retried_and_the_error_carries_no_key(warehouse: DuckDBWarehouse) -> None:
    route = respx.get(url__startswith="https://api.the-odds-api.com").mock(
        return_value=httpx.Response(404)
    )
    settings = ScraperSettings.model_validate({"odds_api_key": KEY})
    odds = HttpFetcher(
        {"direct": httpx.AsyncClient()}, settings, "oddsapi", BreakerRegistry(warehouse)
    )
    with pytest.raises(UpstreamError) as error:
        asyncio.run(odds.get_json("/v4/sports/basketball_nba/events"))
    assert route.call_count == 1
    assert route.calls[0].request.url.params["apiKey"] == KEY
    assert KEY not in str(error.value) and "404" in str(error.value)


@respx.mock
def test_breaker_opens_after_three_failures_then_recovers_through_half_open(
    warehouse: DuckDBWarehouse,
) -> None:
    route = respx.get(f"{BASE}/v1/games").mock(return_value=httpx.Response(500))
    f = fetcher(warehouse, http_attempts=1)
    for _ in range(3):
        with pytest.raises(UpstreamError):
            get(f)
    assert route.call_count == 3
    with pytest.raises(CircuitOpenError):
        get(f)
    assert route.call_count == 3, "an open circuit fails fast without calling the upstream"
    state = warehouse.query("SELECT state FROM {nba_orchestration.circuit_breaker_state}")
    assert state == [{"state": "open"}], "persisted for every instance"

    breaker = f.breakers.get("direct", "api.balldontlie.io")
    breaker._state_storage.opened_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    route.mock(return_value=httpx.Response(200, json={"data": []}))
    assert get(f) == {"data": []}, "the HALF_OPEN trial call goes through"
    assert warehouse.query("SELECT state FROM {nba_orchestration.circuit_breaker_state}") == [
        {"state": "closed"}
    ]


@respx.mock
def test_cancelled_requests_never_open_the_circuit(warehouse: DuckDBWarehouse) -> None:
    """A stopping service cancels its requests in flight (`nba-pipeline up` on SIGTERM): an
    open circuit would then fail the next start's scrapes of a healthy upstream."""

    async def never_answers(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        raise AssertionError("cancelled before")

    async def cancel_four_requests() -> None:
        for _ in range(4):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(f.get_json("/v1/games"), 0.05)

    respx.get(f"{BASE}/v1/games").mock(side_effect=never_answers)
    f = fetcher(warehouse, http_attempts=1)
    asyncio.run(cancel_four_requests())
    breaker = f.breakers.get("direct", "api.balldontlie.io")
    assert (breaker.current_state, breaker.fail_counter) == ("closed", 0)
    assert warehouse.query("SELECT state FROM {nba_orchestration.circuit_breaker_state}") == []


@respx.mock
def test_reset_closes_open_circuits_for_every_instance(warehouse: DuckDBWarehouse) -> None:
    route = respx.get(f"{BASE}/v1/games").mock(return_value=httpx.Response(500))
    f = fetcher(warehouse, http_attempts=1)
    for _ in range(3):
        with pytest.raises(UpstreamError):
            get(f)
    other_instance = BreakerRegistry(warehouse, refresh_seconds=0)
    assert other_instance.is_open("direct", "api.balldontlie.io")
    assert f.breakers.reset(host="elsewhere.example") == [], "only the asked host"
    assert other_instance.reset() == ["direct->api.balldontlie.io"]
    route.mock(return_value=httpx.Response(200, json={"data": []}))
    f.breakers.get("direct", "api.balldontlie.io")._state_storage.refresh_seconds = 0
    assert get(f) == {"data": []}, "the first instance reads the closed circuit back"
    assert other_instance.reset() == [], "nothing left open"


@respx.mock
def test_rotation_skips_a_provider_whose_circuit_is_open(warehouse: DuckDBWarehouse) -> None:
    proxies = [
        {"name": "primary", "url": None, "priority": 1},
        {"name": "backup", "url": None, "priority": 2},
    ]
    route = respx.get(f"{BASE}/v1/games")
    route.side_effect = lambda request: httpx.Response(500 if request.headers["X-Provider"] == "primary" else 200,
                                                       json={"data": [request.headers["X-Provider"]]})  # fmt: skip
    f = fetcher(warehouse, proxies=proxies, http_attempts=1)
    for _ in range(3):
        with pytest.raises(UpstreamError):
            get(f)
    assert get(f) == {"data": ["backup"]}
    assert f.breakers.is_open("primary", "api.balldontlie.io")


def test_proxy_credentials_never_print() -> None:
    settings = ScraperSettings.model_validate(
        {"proxies": [{"name": "p", "url": "http://user:hunter2@proxy.example:8080", "priority": 1}]}
    )
    assert "hunter2" not in repr(settings) and "hunter2" not in settings.model_dump_json()


def test_every_family_reuses_one_pooled_connection_per_proxy_provider(
    warehouse: DuckDBWarehouse,
) -> None:
    upstreams = tuple(UPSTREAMS)
    proxies = [{"name": "primary", "url": None, "priority": 1},
               {"name": "backup", "url": None, "priority": 2}]  # fmt: skip
    with json_upstream() as (url, peers):
        settings = ScraperSettings.model_validate(
            {"proxies": proxies, **{UPSTREAMS[name].base_url_setting: url for name in upstreams}}
        )
        runner = ScrapeRunner(settings, SimpleNamespace(warehouse=warehouse))  # type: ignore[arg-type]
        assert list(runner.http) == ["primary", "backup"], "one client per provider"

        async def every_family_twice() -> None:
            for name in upstreams * 2:
                fetcher = HttpFetcher(runner.http, settings, name, runner.breakers)
                assert await fetcher.get_json("/v1/x") == {"data": []}
            await runner.aclose()

        asyncio.run(every_family_twice())
    assert len(peers.items) == 2 * len(upstreams)
    assert len(set(peers.items)) == 1, "every request rode the primary provider's one connection"


def test_a_failing_proxy_with_credentials_never_shows_its_password(
    warehouse: DuckDBWarehouse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pr0xy-pa55word"
    port = free_port()
    proxy = {"name": "paid", "url": f"http://user:{password}@127.0.0.1:{port}", "priority": 1}
    settings = ScraperSettings.model_validate(
        {"proxies": [proxy], "balldontlie_base_url": "http://upstream.invalid", "http_attempts": 2}
    )
    runner = ScrapeRunner(settings, SimpleNamespace(warehouse=warehouse))  # type: ignore[arg-type]
    fetcher = HttpFetcher(runner.http, settings, "balldontlie", runner.breakers)

    async def fetch_then_close() -> None:
        try:
            await fetcher.get_json("/v1/games")
        finally:
            await runner.aclose()

    with dropping_port(port) as proxy_server, pytest.raises(UpstreamError) as error:
        asyncio.run(fetch_then_close())
    assert proxy_server.connections == 2, "both attempts went through the proxy"
    assert "upstream.invalid" in str(error.value), "the error still says what failed"
    assert password not in str(error.value) and password not in caplog.text


@respx.mock
def test_a_body_keeps_integers_past_64_bits_and_nan_exactly(warehouse: DuckDBWarehouse) -> None:
    """The stored raw file is the evidence: a decoder that turns a huge id into a float
    (orjson does) would change it before it is stored."""
    body = b'{"id": 123456789012345678901234, "pct": NaN}'
    respx.get(f"{BASE}/v1/games").mock(return_value=httpx.Response(200, content=body))
    decoded = get(fetcher(warehouse))
    assert isinstance(decoded, dict) and decoded["id"] == 123456789012345678901234
    assert math.isnan(decoded["pct"])
