"""The scrapers service in process, reachable by the CLI over HTTP: what `nba-pipeline players`,
`gaps` and `export` talk to, without a stack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import respx
from fastapi.testclient import TestClient

from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.app import create_app
from tests.utils.fakes import fake_clients


@contextlib.contextmanager
def scrapers_at(url: str, warehouse: DuckDBWarehouse) -> Iterator[TestClient]:
    """The scrapers service over `warehouse`; requests the CLI sends to `url` reach it."""
    with TestClient(create_app(clients=fake_clients(warehouse))) as client:

        def forward(request: httpx.Request) -> httpx.Response:
            answer = client.request(
                request.method,
                request.url.path,
                params=dict(request.url.params),
                content=request.content,
                headers={"content-type": request.headers.get("content-type", "")},
            )
            return httpx.Response(answer.status_code, content=answer.content)

        with respx.mock(assert_all_called=False) as mock:
            mock.route(url__startswith=url).mock(side_effect=forward)
            yield client
