"""`/ready` and `/health/detailed` answer 503 naming the dependency that fails."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from libs.common.service import DETAILED_CHECKS_SECONDS, CachedChecks
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.processors.app import create_app as processors_app
from services.scrapers.app import create_app as scrapers_app
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import fake_clients


class BrokenWarehouse(DuckDBWarehouse):
    """A warehouse whose queries fail, as when BigQuery is unreachable."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        raise ConnectionError("warehouse unreachable")


def app_with(warehouse: Any) -> FastAPI:
    return processors_app(clients=fake_clients(warehouse))


@pytest.mark.parametrize("path", ["/ready", "/health/detailed"])
def test_a_failing_warehouse_is_named_in_a_503(path: str) -> None:
    client = TestClient(app_with(BrokenWarehouse(":memory:")))
    response = client.get(path)
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["warehouse"]["status"] == "fail"
    assert "warehouse unreachable" in checks["warehouse"]["detail"]
    assert checks["gcs"]["status"] == checks["pubsub"]["status"] == "ok"


def test_ready_lists_only_the_failing_dependency() -> None:
    response = TestClient(app_with(BrokenWarehouse(":memory:"))).get("/ready")
    assert response.json()["failing"] == ["warehouse"]


def test_healthy_dependencies_answer_200() -> None:
    client = TestClient(app_with(DuckDBWarehouse(":memory:")))
    assert client.get("/ready").status_code == 200
    assert client.get("/health/detailed").json()["status"] == "ok"


def test_detailed_says_which_keys_are_set_without_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BDL_API_KEY", raising=False)
    secret = "sk-test-9b2f41"
    settings = ScraperSettings(odds_api_key=SecretStr(secret), bdl_api_key=SecretStr(""))
    clients = fake_clients()
    response = TestClient(scrapers_app(settings, clients)).get("/health/detailed")
    keys = response.json()["api_keys_present"]
    assert keys["odds_api_key"] is True
    assert keys["bdl_api_key"] is False
    assert secret not in response.text


def test_detailed_reuses_its_checks_until_they_are_stale() -> None:
    """Every call ran a query, a bucket listing and a topic lookup; people read it, not probes."""
    now, runs = [0.0], []
    cached = CachedChecks(DETAILED_CHECKS_SECONDS, clock=lambda: now[0])

    def checks() -> list[dict[str, Any]]:
        runs.append(now[0])
        return [{"name": "warehouse", "status": "ok"}]

    first = cached.get(checks)
    now[0] = DETAILED_CHECKS_SECONDS - 1
    assert cached.get(checks) == first and runs == [0.0]
    now[0] = DETAILED_CHECKS_SECONDS
    cached.get(checks)
    assert runs == [0.0, DETAILED_CHECKS_SECONDS]


def test_ready_checks_every_time_while_detailed_is_cached() -> None:
    warehouse = CountingWarehouse(":memory:")
    with TestClient(app_with(warehouse)) as client:
        for _ in range(3):
            assert client.get("/health/detailed").status_code == 200
            assert client.get("/ready").status_code == 200
    assert warehouse.checks == 1 + 3, "one detailed check run, and one per /ready"


class CountingWarehouse(DuckDBWarehouse):
    """Counts the readiness query (`SELECT 1 AS ok`)."""

    checks = 0

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.checks += sql == "SELECT 1 AS ok"
        return super().query(sql, params)
