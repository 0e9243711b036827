"""Authentication is on unless local mode is chosen explicitly: every route but the probes
refuses a call without a token, and a service that does not know its audience does not start."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from libs.common.settings import CommonSettings
from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from services.scrapers.app import create_app as scrapers_app
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import fake_clients

IDENTITIES = {
    "push_audience": "https://nba-processors-123456.us-central1.run.app",
    "push_service_account": "nba-push@p.iam.gserviceaccount.com",
    "admin_identities": ["nba-scheduler@p.iam.gserviceaccount.com"],
    "oidc_certs_url": "http://127.0.0.1:9/certs",  # never reached: no call carries a token
}
PROBES = {"/health", "/ready"}
"""What a load balancer may read without a token (besides /docs and the OpenAPI)."""


def test_authentication_is_on_unless_local_mode_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSH_AUTH_ENABLED")
    with pytest.raises(ValidationError, match="set PUSH_AUTH_ENABLED=false to choose local mode"):
        CommonSettings(_env_file=None)
    assert CommonSettings(_env_file=None, **IDENTITIES).push_auth_enabled
    monkeypatch.setenv("PUSH_AUTH_ENABLED", "false")
    assert not CommonSettings(_env_file=None).push_auth_enabled


def service(name: str) -> FastAPI:
    """A service built without local mode: only its identities set, the rest defaults."""
    if name == "scrapers":
        return scrapers_app(ScraperSettings(push_auth_enabled=True, **IDENTITIES), fake_clients())
    create = processors_app if name == "processors" else analytics_app
    return create(CommonSettings(push_auth_enabled=True, **IDENTITIES), fake_clients())


@pytest.mark.parametrize("name", ["scrapers", "processors", "analytics"])
def test_every_route_but_the_probes_refuses_a_call_without_a_token(name: str) -> None:
    app = service(name)
    paths = app.openapi()["paths"]
    with TestClient(app) as client:
        answers = {
            f"{method.upper()} {path}": client.request(method, re.sub(r"\{[^}]+\}", "x", path))
            for path, operations in paths.items()
            if path not in PROBES
            for method in operations
        }
        assert "GET /health/detailed" in answers
        refused = {call: answer.status_code for call, answer in answers.items()}
        assert {call: code for call, code in refused.items() if code != 401} == {}
        assert (client.get("/health").status_code, client.get("/ready").status_code) == (200, 200)
