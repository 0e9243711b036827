"""HTTP access to one upstream: base URL, credentials, timeouts and retries in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from libs.common.settings import ScraperSettings

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class UpstreamError(RuntimeError):
    """An upstream answer we cannot use; the message carries the URL without secrets."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError)


class HttpFetcher:
    """Implements `libs.common.sources.base.Fetcher` for one upstream family."""

    def __init__(
        self, client: httpx.AsyncClient, settings: ScraperSettings, upstream: str, attempts: int = 3
    ) -> None:
        self.client = client
        self.base_url = settings.base_url(upstream)
        self.attempts = attempts
        self.headers: dict[str, str] = {}
        self.secret_params: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        if upstream == "oddsapi" and settings.odds_api_key.get_secret_value():
            self.secret_params["apiKey"] = settings.odds_api_key.get_secret_value()
        if upstream == "balldontlie" and settings.bdl_api_key.get_secret_value():
            self.headers["Authorization"] = settings.bdl_api_key.get_secret_value()

    async def _get(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        url = self.base_url + path
        query = {**(params or {}), **self.secret_params}
        self.requests.append({"url": url, "params": dict(params or {})})
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=0.5, max=8),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self.client.get(url, params=query, headers=self.headers)
                    response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise UpstreamError(f"GET {url} answered {exc.response.status_code}") from None
        except httpx.TransportError as exc:
            raise UpstreamError(f"GET {url} failed: {type(exc).__name__}") from None
        return response

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._get(path, params)
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"GET {self.base_url + path} did not return JSON") from None

    async def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        return (await self._get(path, params)).text
