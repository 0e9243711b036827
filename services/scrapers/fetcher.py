"""HTTP access to one upstream: base URL, credentials, proxies, breakers, timeouts and retries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import httpx
import pybreaker
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from libs.common.quota import QuotaTally
from libs.common.sources.upstreams import UPSTREAMS
from services.scrapers.breakers import BreakerRegistry
from services.scrapers.settings import ProxyProvider, ScraperSettings

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 60.0
DIRECT = ProxyProvider(name="direct", url=None, priority=10**6)
"""No proxy: used when none is configured."""


class UpstreamError(RuntimeError):
    """An upstream answer we cannot use; the message carries the URL without secrets."""


class CircuitOpenError(UpstreamError):
    """Every provider's circuit to this host is open; the run fails fast and is backfilled later."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError | pybreaker.CircuitBreakerError)


_backoff = wait_exponential_jitter(multiplier=0.5, max=8)


def wait_retry_after(state: RetryCallState) -> float:
    """Honour the upstream's Retry-After (seconds) when it sent one, else exponential backoff with jitter."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, httpx.HTTPStatusError):
        header = exc.response.headers.get("Retry-After", "")
        if header.strip().isdigit():
            return min(float(header), MAX_RETRY_AFTER_SECONDS)
    return float(_backoff(state))


class HttpFetcher:
    """Implements `libs.common.sources.base.Fetcher` for one upstream family."""

    def __init__(
        self,
        clients: Mapping[str, httpx.AsyncClient],
        settings: ScraperSettings,
        upstream: str,
        breakers: BreakerRegistry,
    ) -> None:
        self.clients = clients
        self.base_url = settings.base_url(upstream)
        self.host = urlparse(self.base_url).netloc
        self.attempts = settings.http_attempts
        self.breakers = breakers
        self.providers = sorted(settings.proxies, key=lambda p: p.priority) or [DIRECT]
        self.headers: dict[str, str] = {}
        self.secret_params: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.quota = QuotaTally(upstream)
        credential, key = UPSTREAMS[upstream].credential, settings.api_key(upstream)
        if credential is not None and key:
            where = self.headers if credential.where == "header" else self.secret_params
            where[credential.name] = key

    def provider(self) -> ProxyProvider:
        """The highest-priority provider whose circuit to this host is not open."""
        for provider in self.providers:
            if not self.breakers.is_open(provider.name, self.host):
                return provider
        raise CircuitOpenError(
            f"circuit open for {self.host} on every provider ({', '.join(p.name for p in self.providers)})"
        )

    async def _attempt(self, url: str, query: dict[str, Any]) -> httpx.Response:
        provider = self.provider()
        breaker = self.breakers.get(provider.name, self.host)
        with breaker.calling():
            response = await self.clients[provider.name].get(
                url, params=query, headers=self.headers
            )
            self.quota.observe(response.headers)
            if response.status_code in RETRYABLE_STATUS:
                response.raise_for_status()
        response.raise_for_status()
        return response

    async def _get(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        url = self.base_url + path
        query = {**(params or {}), **self.secret_params}
        self.requests.append({"url": url, "params": dict(params or {})})
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_retry_after,
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._attempt(url, query)
        except httpx.HTTPStatusError as exc:
            raise UpstreamError(f"GET {url} answered {exc.response.status_code}") from None
        except httpx.TransportError as exc:
            raise UpstreamError(f"GET {url} failed: {type(exc).__name__}") from None
        except pybreaker.CircuitBreakerError:
            raise CircuitOpenError(f"GET {url}: circuit opened after repeated failures") from None
        return response

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded body; a body that is not JSON comes back as its text, so it is stored
        and the parser fails naming `<body>`, instead of the evidence being dropped here."""
        response = await self._get(path, params)
        try:
            return response.json()
        except ValueError:
            return response.text

    async def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        return (await self._get(path, params)).text
