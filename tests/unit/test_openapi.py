"""Each service documents `POST /process` with an example request body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from services.scrapers.app import create_app as scrapers_app


def request_schema(app: FastAPI) -> dict[str, Any]:
    spec = app.openapi()
    body = spec["paths"]["/process"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = spec["components"]["schemas"][ref]
    return schema


@pytest.mark.parametrize("factory", [scrapers_app, processors_app, analytics_app])
def test_process_request_body_has_an_example(factory: Any) -> None:
    schema = request_schema(factory())
    assert schema.get("examples"), "the /docs page shows a ready-to-send example"


def test_scraper_example_names_a_registered_scraper() -> None:
    from libs.common.sources.registry import SOURCES

    (example,) = request_schema(scrapers_app())["examples"]
    assert example["scraper_name"] in SOURCES


@pytest.mark.parametrize("factory", [processors_app, analytics_app])
def test_push_endpoints_document_their_status_codes(factory: Any) -> None:
    responses = factory().openapi()["paths"]["/process"]["post"]["responses"]
    assert {"200", "400", "500"} <= set(responses)
    assert "202" not in responses
