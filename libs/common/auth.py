"""OIDC verification of Pub/Sub push and Cloud Scheduler calls (DESIGN §10).

In production every push delivery and every scheduler call carries a Google-signed ID token
of a service account. Cloud Run's invoker check already rejects strangers; this check
also pins *which* identity may call which route. The check is on unless local mode is
chosen explicitly with `PUSH_AUTH_ENABLED=false` (the local stack and the tests do: the
Pub/Sub emulator sends no Authorization header), never by guessing, so a deployment that
forgets the setting is closed, not open; `/health/detailed` reports the mode.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from google.auth import exceptions as google_exceptions
from google.auth import transport
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
CLOCK_SKEW_SECONDS = 10
"""Tolerance between Google's clock and ours when checking `iat` and `exp`."""
CERTS_TIMEOUT_SECONDS = 10


class AuthSettings(BaseSettings):
    """Who may call push and admin routes: checked unless `PUSH_AUTH_ENABLED=false`."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    push_auth_enabled: bool = Field(
        True, description="verify OIDC tokens; false chooses local mode (no check)"
    )
    push_audience: str = Field("", description="the `aud` tokens must carry (the service URL)")
    push_service_account: str = Field(
        "", description="email of the service account Pub/Sub push tokens are minted for"
    )
    admin_identities: list[str] = Field(
        default_factory=list,
        description='emails allowed on admin routes (the scheduler SA), JSON list: ["a@b"]',
    )
    oidc_certs_url: str = Field(GOOGLE_CERTS_URL, description="Google's token-signing certs")
    oidc_issuers: list[str] = Field(
        default_factory=lambda: ["https://accounts.google.com", "accounts.google.com"],
        description="accepted `iss` values",
    )
    oidc_certs_ttl_seconds: float = Field(
        3600.0, description="how long fetched certificates are reused"
    )

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> AuthSettings:
        # An empty audience would make google-auth skip the audience check entirely.
        missing = [
            name
            for name, value in (
                ("PUSH_AUDIENCE", self.push_audience),
                ("PUSH_SERVICE_ACCOUNT", self.push_service_account),
            )
            if self.push_auth_enabled and not value
        ]
        if missing:
            raise ValueError(
                f"push authentication is on (PUSH_AUTH_ENABLED, default true) and needs "
                f"{' and '.join(missing)}; set PUSH_AUTH_ENABLED=false to choose local mode "
                "(no token checks)"
            )
        return self


def auth_mode(settings: AuthSettings) -> dict[str, Any]:
    """What `/health/detailed` shows about authentication: the mode, no secrets."""
    if not settings.push_auth_enabled:
        return {"push_auth": "disabled (local mode)"}
    return {
        "push_auth": "enabled",
        "audience": settings.push_audience,
        "push_service_account": settings.push_service_account,
        "admin_identities": len(settings.admin_identities),
        "certs_url": settings.oidc_certs_url,
    }


class AuthError(Exception):
    """A rejected call: 401 no or invalid token, 403 valid token of the wrong identity."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    """The verified facts of a token that routes may use."""

    email: str
    subject: str
    issuer: str
    audience: str
    expires_at: int


class _CachedResponse(transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status, self._headers, self._data = status, headers, data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class CachedCertsRequest(transport.Request):
    """A google-auth transport that reuses a successful GET for `ttl_seconds`.

    `id_token.verify_token` fetches the certificates URL on every call; Google publishes a
    new key well before signing with it and serves the set with a max-age of hours, so one
    fetch per TTL per process is enough. The lock makes concurrent first calls fetch once.
    """

    def __init__(
        self,
        ttl_seconds: float,
        inner: transport.Request | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if inner is None:  # requests and its TLS stack: only a service that verifies tokens
            from google.auth.transport.requests import Request as RequestsTransport

            inner = RequestsTransport()
        self.ttl_seconds = ttl_seconds
        self._inner = inner
        self._clock = clock
        self._cache: dict[str, tuple[float, _CachedResponse]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        if method != "GET":
            passed: transport.Response = self._inner(url, method, body, headers, timeout, **kwargs)
            return passed
        with self._lock:
            now = self._clock()
            hit = self._cache.get(url)
            if hit is not None and now - hit[0] < self.ttl_seconds:
                return hit[1]
            fetched = self._inner(
                url, "GET", headers=headers, timeout=timeout or CERTS_TIMEOUT_SECONDS, **kwargs
            )
            response = _CachedResponse(fetched.status, dict(fetched.headers), fetched.data)
            if response.status == 200:
                self._cache[url] = (now, response)
            return response


def _bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise AuthError(401, "missing Authorization header (expected 'Bearer <OIDC token>')")
    scheme, _, token = authorization_header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "Authorization header is not a Bearer token")
    return token.strip()


class PushVerifier:
    """Verifies `Authorization: Bearer <Google ID token>` against the settings."""

    def __init__(self, settings: AuthSettings, request: transport.Request | None = None) -> None:
        from google.oauth2 import id_token  # JWT and crypto: only where tokens are verified

        self.settings = settings
        self._request = request or CachedCertsRequest(settings.oidc_certs_ttl_seconds)
        self._verify_token = id_token.verify_token

    def verify(
        self, authorization_header: str | None, allowed_emails: Collection[str] | None = None
    ) -> Claims:
        """Signature, audience and expiry (google-auth), then issuer, email, email_verified.

        `allowed_emails` defaults to the push service account.
        """
        token = _bearer_token(authorization_header)
        try:
            claims = self._verify_token(
                token,
                self._request,
                audience=self.settings.push_audience,
                certs_url=self.settings.oidc_certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except google_exceptions.TransportError as exc:
            raise AuthError(503, f"could not fetch OIDC certificates: {exc}") from None
        except ValueError as exc:  # signature, audience, expiry, malformed token
            raise AuthError(401, f"invalid token: {str(exc).replace(token, '<token>')}") from None
        issuer = claims.get("iss")
        if issuer not in self.settings.oidc_issuers:
            raise AuthError(401, f"invalid token: issuer {issuer!r} is not an accepted issuer")
        allowed = {self.settings.push_service_account} if allowed_emails is None else allowed_emails
        email = claims.get("email")
        if not email or email not in allowed:
            raise AuthError(403, f"token email {email!r} is not allowed on this route")
        if claims.get("email_verified") is not True:
            raise AuthError(403, f"token email {email!r} is not verified (email_verified)")
        return Claims(
            email=email,
            subject=str(claims.get("sub", "")),
            issuer=issuer,
            audience=str(claims.get("aud", "")),
            expires_at=int(claims.get("exp", 0)),
        )

    def verify_admin(self, authorization_header: str | None) -> Claims:
        """Admin routes accept only `admin_identities`."""
        return self.verify(authorization_header, self.settings.admin_identities)


_verifier_lock = threading.Lock()


def push_verifier(app: Any) -> PushVerifier | None:
    """The app's verifier: `app.state.push_verifier`, else built from its settings or the env;
    None in local mode. Service apps call it at startup, so no request pays its imports."""
    with _verifier_lock:
        verifier: PushVerifier | None = getattr(app.state, "push_verifier", None)
        if verifier is None:
            settings = getattr(app.state, "settings", None)
            if not isinstance(settings, AuthSettings):
                settings = AuthSettings()
            if not settings.push_auth_enabled:
                return None
            verifier = app.state.push_verifier = PushVerifier(settings)
        return verifier


def _require(request: Request, admin: bool) -> Claims | None:
    verifier = push_verifier(request.app)
    if verifier is None or not verifier.settings.push_auth_enabled:
        return None
    header = request.headers.get("authorization")
    try:
        return verifier.verify_admin(header) if admin else verifier.verify(header)
    except AuthError as exc:
        log.warning(
            "request rejected by authentication",
            extra={
                "fields": {
                    "path": request.url.path,
                    "status_code": exc.status_code,
                    "reason": exc.reason,
                    "route_kind": "admin" if admin else "push",
                }
            },
        )
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        raise HTTPException(
            exc.status_code, exc.reason, headers if exc.status_code == 401 else None
        ) from None


def require_push_identity(request: Request) -> Claims | None:
    """FastAPI dependency for push routes: the push service account's token, or 401/403."""
    return _require(request, admin=False)


def require_admin_identity(request: Request) -> Claims | None:
    """FastAPI dependency for admin and scheduler routes: an `admin_identities` token."""
    return _require(request, admin=True)
