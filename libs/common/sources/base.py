"""The source catalog contract: one `Source` per scraper, declared once in the registry."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol

from pydantic import BaseModel
from typing_extensions import TypeVar

from libs.common.errors import PipelineError
from libs.common.sources.upstreams import UPSTREAMS
from libs.common.warehouse.schema import Table

Row = dict[str, Any]


class ParseError(PipelineError, ValueError):
    """An upstream body that does not have the shape its parser expects."""

    status_code = 422

    def __init__(self, scraper_name: str, field: str, problem: str) -> None:
        self.scraper_name = scraper_name
        self.field = field
        self.problem = problem
        super().__init__(f"{scraper_name}: field '{field}': {problem}")


class Fetcher(Protocol):
    """What a request builder may call: GET on its upstream, keys and retries handled for it."""

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    async def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str: ...


REQUESTS_IN_FLIGHT = 4
"""GETs one scrape keeps in flight to its upstream when it needs several (props per event,
pages 2..n); rate-limit answers (429) are retried with their Retry-After by the fetcher."""


async def get_json_each(
    fetcher: Fetcher, requests: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Any]:
    """`get_json` of every (path, params), `REQUESTS_IN_FLIGHT` at a time, bodies in order.

    One after another, a date's props waited for one round trip per event. The first
    failure cancels the requests still running and is raised as it is.
    """
    slots = asyncio.Semaphore(REQUESTS_IN_FLIGHT)

    async def get(path: str, params: Mapping[str, Any]) -> Any:
        async with slots:
            return await fetcher.get_json(path, params)

    tasks = [asyncio.ensure_future(get(path, params)) for path, params in requests]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


@dataclass(frozen=True)
class ParseContext:
    """Lineage a parser stamps on every row."""

    execution_id: str
    source_file: str
    game_date: dt.date | None
    fetched_at: dt.datetime
    params: Mapping[str, Any]


ParamsT = TypeVar("ParamsT", bound=BaseModel, default=BaseModel)
"""A source's params model; code handling any source sees `Source` as `Source[BaseModel]`."""


@dataclass(frozen=True)
class Source(Generic[ParamsT]):
    """A scraper: how to request its upstream, and how to turn the body into raw rows.

    `fetch` returns the body to store (JSON-able; a `str` for HTML sources). Multi-page
    upstreams return the pages merged into the first page's shape. `parse` receives that
    same body back and returns rows whose keys are exactly `table.column_names`.
    """

    name: str
    upstream: str
    """A key of `upstreams.UPSTREAMS`: the host, its settings, key and quota."""
    gcs_prefix: str
    table: Table
    params_model: type[ParamsT]
    fetch: Callable[[Fetcher, ParamsT], Awaitable[Any]]
    """Typed by `params_model`: the runner validates the params before it calls this."""
    parse: Callable[[Any, ParseContext], list[Row]]
    description: str = ""
    body_format: Literal["json", "html"] = "json"
    live_only: bool = False
    """The upstream serves only the present: a run for a past date stores today's data, not
    that date's, so the gap backfiller never re-runs one (it uses `historical`, if any)."""
    historical: str | None = None
    """The scraper that serves a past date of this one's data (same table, same params plus a
    `snapshot`): the gap backfiller's route for a live-only gap whose date has passed."""

    def __post_init__(self) -> None:
        if self.upstream not in UPSTREAMS:
            raise ValueError(
                f"{self.name}: upstream '{self.upstream}' is not one of {list(UPSTREAMS)}"
            )

    def game_date(self, params: ParamsT) -> dt.date | None:
        """The game date a run is about, if its params name one (never defaulted to today)."""
        value = getattr(params, "date", None)
        return value if isinstance(value, dt.date) else None
