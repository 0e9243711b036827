"""What every replayed upstream shares: errors in the upstream's shape, cached bodies, responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar, cast

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from libs.common.sources.upstreams import UPSTREAMS

PREFIXES = tuple(spec.replay_prefix for spec in UPSTREAMS.values())
"""One path prefix per upstream, so each has its own base URL (`{server}/balldontlie`, ...)."""

T = TypeVar("T")
ODDS_ERROR_DOCS = "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html"


class UpstreamError(Exception):
    """An error answered the way the upstream answers it (status, its JSON body, headers)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error_body(prefix: str, status: int, message: str, code: str = "") -> Any:
    """The error body each upstream family sends; The Odds API adds a code and a docs link."""
    if prefix == "/oddsapi":
        code = code or {401: "MISSING_KEY", 404: "EVENT_NOT_FOUND", 429: "EXCEEDED_FREQ_LIMIT"}.get(
            status, "INTERNAL_ERROR"
        )
        return {"message": message, "error_code": code, "details_url": f"{ODDS_ERROR_DOCS}#{code}"}
    if prefix == "/espn":
        return {"code": status, "message": message}
    return {"error": message}


def upstream_error(prefix: str, status: int, message: str, code: str = "") -> UpstreamError:
    return UpstreamError(status, error_body(prefix, status, message, code))


async def handle_upstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamError)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


def encode(body: Any) -> bytes:
    """Compact JSON (or HTML text) as bytes, the way upstreams send it."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(body: Any) -> Response:
    return Response(encode(body), media_type="application/json")


def html_response(body: Any) -> Response:
    return Response(encode(body), media_type="text/html; charset=utf-8")


class Memo:
    """Values built once per key: a date's bodies are generated on its first request only.

    Two threads may build the same key at once; both get equal values (generation is
    deterministic), so the lock only guards the dict.
    """

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                return cast(T, self._values[key])
        value = build()
        with self._lock:
            return cast(T, self._values.setdefault(key, value))
