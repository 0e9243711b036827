"""A scrape that needs several GETs keeps a few in flight, keeps their order, stops on a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from libs.common.sources.base import REQUESTS_IN_FLIGHT, get_json_each


class SlowUpstream:
    """Answers each GET after a pause that shrinks with the page number, so later requests
    would finish first if order were not kept; counts the GETs running at once."""

    def __init__(self, failing_page: int | None = None) -> None:
        self.failing_page = failing_page
        self.running = 0
        self.most_running = 0
        self.finished: list[int] = []
        self.cancelled = 0

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        page = int((params or {})["page"])
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(0.001 * (20 - page))
            if page == self.failing_page:
                raise LookupError(f"page {page} is gone")
            self.finished.append(page)
            return {"page": page}
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1

    async def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        raise NotImplementedError


def pages(count: int) -> list[tuple[str, Mapping[str, Any]]]:
    return [("/v3/offers", {"page": page}) for page in range(1, count + 1)]


def test_bodies_come_back_in_request_order_with_a_bounded_number_in_flight() -> None:
    upstream = SlowUpstream()
    bodies = asyncio.run(get_json_each(upstream, pages(12)))
    assert bodies == [{"page": page} for page in range(1, 13)]
    assert upstream.most_running == REQUESTS_IN_FLIGHT
    assert upstream.finished != sorted(upstream.finished), "they did run side by side"


def test_the_first_failure_is_raised_as_is_and_the_rest_are_cancelled() -> None:
    upstream = SlowUpstream(failing_page=2)
    with pytest.raises(LookupError, match="page 2 is gone"):
        asyncio.run(get_json_each(upstream, pages(12)))
    assert upstream.running == 0
    assert upstream.cancelled > 0 and len(upstream.finished) < 11
