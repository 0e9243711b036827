"""Push OIDC verification against a test key whose certificate a loopback server serves."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from google.auth import crypt, jwt

from libs.common.auth import (
    AuthError,
    AuthSettings,
    PushVerifier,
    auth_mode,
    require_admin_identity,
    require_push_identity,
)
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.app import create_app as create_scrapers_app
from services.scrapers.settings import ScraperSettings
from services.scrapers.tables import SCRAPER_FAILURES
from tests.utils.fakes import fake_clients
from tests.utils.scrapers import open_gap_row

AUDIENCE = "https://nba-processors-123.us-central1.run.app"
PUSH_SA = "pubsub-push@proj.iam.gserviceaccount.com"
SCHEDULER_SA = "scheduler@proj.iam.gserviceaccount.com"
KID = "test-key-1"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate_pem(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-oidc")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _signer(key: rsa.RSAPrivateKey) -> crypt.RSASigner:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return crypt.RSASigner.from_string(pem, key_id=KID)


@dataclass
class CertsServer:
    url: str
    requests: list[str]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return _private_key()


@pytest.fixture(scope="module")
def certs_server_running(key: rsa.RSAPrivateKey) -> Iterator[CertsServer]:
    """Serves `{kid: certificate PEM}` on 127.0.0.1 and counts the requests it answers."""
    body = json.dumps({KID: _certificate_pem(key)}).encode()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield CertsServer(f"http://127.0.0.1:{server.server_address[1]}/oauth2/v1/certs", seen)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def certs_server(certs_server_running: CertsServer) -> CertsServer:
    """The module's server with its request count reset for this test."""
    certs_server_running.requests.clear()
    return certs_server_running


@pytest.fixture
def settings(certs_server: CertsServer) -> AuthSettings:
    return AuthSettings(
        push_auth_enabled=True,
        push_audience=AUDIENCE,
        push_service_account=PUSH_SA,
        admin_identities=[SCHEDULER_SA],
        oidc_certs_url=certs_server.url,
    )


def token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    """A Pub/Sub-shaped ID token; `overrides` replace claims (None removes one)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "sub": "1234567890",
        "email": PUSH_SA,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(_signer(key), claims).decode()


def test_valid_token_is_accepted(settings: AuthSettings, key: rsa.RSAPrivateKey) -> None:
    claims = PushVerifier(settings).verify(f"Bearer {token(key)}")
    assert (claims.email, claims.audience, claims.subject) == (PUSH_SA, AUDIENCE, "1234567890")


def test_short_issuer_spelling_is_accepted(settings: AuthSettings, key: rsa.RSAPrivateKey) -> None:
    assert PushVerifier(settings).verify(f"Bearer {token(key, iss='accounts.google.com')}")


@pytest.mark.parametrize(
    ("header", "status", "reason"),
    [
        (None, 401, "missing Authorization header"),
        ("", 401, "missing Authorization header"),
        ("Basic dXNlcjpwYXNz", 401, "not a Bearer token"),
        ("Bearer", 401, "not a Bearer token"),
        ("Bearer not-a-jwt", 401, "invalid token"),
    ],
)
def test_malformed_headers_are_401(
    settings: AuthSettings, header: str | None, status: int, reason: str
) -> None:
    with pytest.raises(AuthError) as caught:
        PushVerifier(settings).verify(header)
    assert caught.value.status_code == status
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("overrides", "status", "reason"),
    [
        ({"aud": "https://someone-else.run.app"}, 401, "wrong audience"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, 401, "expired"),
        ({"iss": "https://evil.example.com"}, 401, "issuer"),
        ({"email": "intruder@proj.iam.gserviceaccount.com"}, 403, "not allowed"),
        ({"email": None}, 403, "not allowed"),
        ({"email_verified": False}, 403, "email_verified"),
        ({"email_verified": None}, 403, "email_verified"),
    ],
)
def test_rejections_name_the_failed_check(
    settings: AuthSettings,
    key: rsa.RSAPrivateKey,
    overrides: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    with pytest.raises(AuthError) as caught:
        PushVerifier(settings).verify(f"Bearer {token(key, **overrides)}")
    assert (caught.value.status_code, reason in caught.value.reason) == (status, True), (
        caught.value.reason
    )


def test_token_signed_by_another_key_is_401(settings: AuthSettings) -> None:
    forged = token(_private_key())  # same kid, different key
    with pytest.raises(AuthError) as caught:
        PushVerifier(settings).verify(f"Bearer {forged}")
    assert caught.value.status_code == 401
    assert "signature" in caught.value.reason
    assert forged not in caught.value.reason


def test_unreachable_certificates_are_503(key: rsa.RSAPrivateKey) -> None:
    settings = AuthSettings(
        push_auth_enabled=True,
        push_audience=AUDIENCE,
        push_service_account=PUSH_SA,
        oidc_certs_url="http://127.0.0.1:9/certs",  # discard port: nothing listens
    )
    with pytest.raises(AuthError) as caught:
        PushVerifier(settings).verify(f"Bearer {token(key)}")
    assert caught.value.status_code == 503


def test_certificates_are_fetched_once_for_many_verifications(
    settings: AuthSettings, key: rsa.RSAPrivateKey, certs_server: CertsServer
) -> None:
    verifier = PushVerifier(settings)
    tokens = [token(key, sub=str(n)) for n in range(20)]
    threads = [threading.Thread(target=verifier.verify, args=(f"Bearer {t}",)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verifier.verify(f"Bearer {tokens[0]}")
    assert certs_server.requests == ["/oauth2/v1/certs"]


def test_certificates_are_fetched_again_after_the_ttl(
    settings: AuthSettings, key: rsa.RSAPrivateKey, certs_server: CertsServer
) -> None:
    verifier = PushVerifier(settings.model_copy(update={"oidc_certs_ttl_seconds": 0}))
    verifier.verify(f"Bearer {token(key)}")
    verifier.verify(f"Bearer {token(key)}")
    assert len(certs_server.requests) == 2


def test_admin_routes_accept_only_admin_identities(
    settings: AuthSettings, key: rsa.RSAPrivateKey
) -> None:
    verifier = PushVerifier(settings)
    assert verifier.verify_admin(f"Bearer {token(key, email=SCHEDULER_SA)}").email == SCHEDULER_SA
    with pytest.raises(AuthError) as caught:
        verifier.verify_admin(f"Bearer {token(key)}")  # the push SA is not an admin
    assert caught.value.status_code == 403


def test_enabled_mode_needs_audience_and_service_account() -> None:
    with pytest.raises(ValueError, match="PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT"):
        AuthSettings(push_auth_enabled=True)


def test_mode_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_AUTH_ENABLED", "true")
    monkeypatch.setenv("PUSH_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("PUSH_SERVICE_ACCOUNT", PUSH_SA)
    monkeypatch.setenv("ADMIN_IDENTITIES", json.dumps([SCHEDULER_SA]))
    settings = AuthSettings(_env_file=None)
    assert settings.push_auth_enabled
    assert settings.admin_identities == [SCHEDULER_SA]


def test_auth_mode_reports_without_secrets(settings: AuthSettings) -> None:
    assert auth_mode(AuthSettings(_env_file=None)) == {"push_auth": "disabled (local mode)"}
    mode = auth_mode(settings)
    assert mode["push_auth"] == "enabled"
    assert mode["audience"] == AUDIENCE
    assert SCHEDULER_SA not in json.dumps(mode)


def tiny_app(settings: AuthSettings) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings

    @app.post("/process", dependencies=[Depends(require_push_identity)])
    def process() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/admin/thing", dependencies=[Depends(require_admin_identity)])
    def admin() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_dependency_on_a_fastapi_app(settings: AuthSettings, key: rsa.RSAPrivateKey) -> None:
    client = TestClient(tiny_app(settings))
    ok = client.post("/process", headers={"Authorization": f"Bearer {token(key)}"})
    assert ok.status_code == 200
    missing = client.post("/process")
    assert missing.status_code == 401
    assert "missing Authorization header" in missing.json()["detail"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = client.post(
        "/process", headers={"Authorization": f"Bearer {token(key, email=SCHEDULER_SA)}"}
    )
    assert wrong.status_code == 403
    as_scheduler = {"Authorization": f"Bearer {token(key, email=SCHEDULER_SA)}"}
    assert client.get("/admin/thing", headers=as_scheduler).status_code == 200
    as_push = {"Authorization": f"Bearer {token(key)}"}
    assert client.get("/admin/thing", headers=as_push).status_code == 403


def test_disabled_mode_accepts_requests_without_a_header() -> None:
    client = TestClient(tiny_app(AuthSettings(_env_file=None, push_auth_enabled=False)))
    assert client.post("/process").status_code == 200
    assert client.get("/admin/thing").status_code == 200


def test_a_dismissed_gap_keeps_the_email_of_the_operator_who_dismissed_it(
    settings: AuthSettings, key: rsa.RSAPrivateKey
) -> None:
    warehouse = DuckDBWarehouse(":memory:")
    scrapers = create_scrapers_app(
        ScraperSettings(**settings.model_dump()), fake_clients(warehouse)
    )
    failure_id = "0b6c4b1e-2d55-4a8f-8f43-6f6d1f2c9a01"
    with TestClient(scrapers) as client:
        warehouse.upsert(SCRAPER_FAILURES, [open_gap_row(failure_id, "bdl_box_scores", {})])
        path, body = f"/admin/gaps/{failure_id}/dismiss", {"reason": "game postponed"}
        as_push = {"Authorization": f"Bearer {token(key)}"}
        assert client.post(path, json=body, headers=as_push).status_code == 403
        as_operator = {"Authorization": f"Bearer {token(key, email=SCHEDULER_SA)}"}
        answer = client.post(path, json=body, headers=as_operator)
    assert answer.status_code == 200, answer.text
    assert answer.json()["gap"]["dismissed_by"] == SCHEDULER_SA
    [row] = warehouse.query("SELECT dismissed_by FROM {nba_orchestration.scraper_failures}")
    assert row["dismissed_by"] == SCHEDULER_SA
