"""Health routes of the running stack: every dependency reachable, facts an operator needs."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.service import ServiceChecks, health_router
from libs.common.sources.registry import SOURCES
from nba_pipeline.stack import LOCAL_API_KEY, LocalStack

pytestmark = pytest.mark.e2e

SERVICES = ("scrapers", "processors", "analytics")
USES = {"scrapers": {"gcs", "pubsub"}, "processors": {"gcs", "pubsub"}, "analytics": set()}
"""What each service reads or writes besides the warehouse, so what its readiness checks."""


@pytest.mark.parametrize("service", SERVICES)
def test_ready_and_detailed_pass_against_the_emulators(stack: LocalStack, service: str) -> None:
    base = stack.url(service)
    assert httpx.get(f"{base}/health", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{base}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    detailed = httpx.get(f"{base}/health/detailed", timeout=10)
    assert detailed.status_code == 200, detailed.text
    body = detailed.json()
    assert {c["name"]: c["status"] for c in body["checks"]} == {
        name: "ok" for name in {"warehouse", *USES[service]}
    }
    assert [c["name"] for c in ready.json()["checks"]] == [c["name"] for c in body["checks"]]
    assert body["registered_scrapers"] == len(SOURCES)
    assert body["memory_rss_bytes"] > 0
    assert body["auth"] == {"push_auth": "disabled (local mode)"}
    assert body["version"]


def test_scrapers_report_keys_present_without_values(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.url('scrapers')}/health/detailed", timeout=10)
    keys = response.json()["api_keys_present"]
    assert keys["odds_api_key"] is True and keys["bdl_api_key"] is True
    assert LOCAL_API_KEY not in response.text


def test_a_missing_bucket_or_topic_is_not_ready_and_names_the_fix(stack: LocalStack) -> None:
    """Reachable emulators are not enough: every write to a missing bucket or topic fails."""
    app = FastAPI()
    app.state.clients = Clients(
        stack.clients.warehouse, RawFileStore("nba-no-such-bucket", "nba-test"),
        stack.clients.publisher,
    )  # fmt: skip
    app.state.checks = ServiceChecks("scrapers", ("gcs", "pubsub"), "nba-no-such-topic")
    app.include_router(health_router)
    response = TestClient(app).get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["gcs", "pubsub"]
    details = {c["name"]: c["detail"] for c in response.json()["checks"]}
    assert "gs://nba-no-such-bucket does not exist: create it" in details["gcs"]
    assert (
        "nba-no-such-topic does not exist: create the topology with `make infra-apply`"
        in (details["pubsub"])
    )
