"""Injected upstream failures and request counts, for resilience tests.

`POST /_control/faults` arms "the next n requests under this prefix answer 429/5xx (after a
delay)"; every upstream request is counted per prefix, so a test can assert how often a
scraper retried. State is in memory, per app, behind one lock (uvicorn serves sync routes
from a thread pool).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nba_pipeline.replay.http import PREFIXES, error_body


class Fault(BaseModel):
    """How the next `count` requests under `prefix` (every upstream when null) fail."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"prefix": "/balldontlie", "status": 429, "count": 2, "retry_after": 1}]
        }
    )
    prefix: str | None = Field(None, description="an upstream prefix, e.g. /balldontlie; null: all")
    status: Literal[429, 500, 502, 503, 504] | None = Field(
        503, description="error status to answer; null: only delay, then answer normally"
    )
    count: int = Field(1, ge=1, description="how many matching requests this fault takes")
    retry_after: int | None = Field(None, ge=0, description="Retry-After header, seconds")
    latency_ms: int = Field(0, ge=0, description="delay before answering, milliseconds")

    @field_validator("prefix")
    @classmethod
    def _known_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = "/" + value.strip("/")
        if value not in PREFIXES:
            raise ValueError(f"unknown prefix {value}; known: {', '.join(PREFIXES)}")
        return value


@dataclass
class _Armed:
    fault: Fault
    left: int


class FaultBook:
    """Armed faults (first armed, first used) and per-prefix request counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._served: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, fault.count))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self._served.clear()
            self._failed.clear()

    def take(self, prefix: str) -> Fault | None:
        """Count a request under `prefix` and return the fault it hits, if one is armed."""
        with self._lock:
            self._served[prefix] += 1
            entry = next((e for e in self._armed if e.fault.prefix in (None, prefix)), None)
            if entry is None:
                return None
            entry.left -= 1
            if not entry.left:
                self._armed.remove(entry)
            if entry.fault.status is not None:
                self._failed[prefix] += 1
            return entry.fault

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"requests": dict(self._served), "faulted": dict(self._failed)}

    def armed(self) -> list[dict[str, object]]:
        with self._lock:
            return [{**e.fault.model_dump(), "left": e.left} for e in self._armed]


def prefix_of(path: str) -> str | None:
    """The upstream prefix a request path is under, or None (control, docs, health)."""
    head = "/" + path.split("/", 2)[1] if path.startswith("/") else path
    return head if head in PREFIXES else None


def install(app: FastAPI, book: FaultBook, latency_ms: int) -> None:
    """Count every upstream request, apply the global latency, then any armed fault."""

    @app.middleware("http")
    async def upstream_faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        prefix = prefix_of(request.url.path)
        if prefix is None:
            return await call_next(request)
        fault = book.take(prefix)
        delay = latency_ms + (fault.latency_ms if fault else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if fault is None or fault.status is None:
            return await call_next(request)
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        body = error_body(prefix, fault.status, f"injected fault: {fault.status}")
        return JSONResponse(body, status_code=fault.status, headers=headers)


def router(book: FaultBook) -> APIRouter:
    api = APIRouter(prefix="/_control", tags=["control"])

    @api.post("/faults", status_code=201, summary="Make the next matching requests fail")
    def arm(fault: Fault) -> dict[str, object]:
        book.arm(fault)
        return {"armed": book.armed()}

    @api.get("/faults", summary="Faults still armed")
    def armed() -> dict[str, object]:
        return {"armed": book.armed()}

    @api.delete("/faults", status_code=204, summary="Disarm every fault")
    def clear() -> None:
        book.clear()

    @api.get("/requests", summary="Upstream requests received (and failed on purpose) per prefix")
    def requests() -> dict[str, dict[str, int]]:
        return book.counts()

    @api.delete("/requests", status_code=204, summary="Reset the request counts")
    def reset() -> None:
        book.reset_counts()

    return api
