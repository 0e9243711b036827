"""One trace spans scrape, load and build, carried by the `traceparent` attribute."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_scrape_load_and_build_share_one_trace(
    stack: LocalStack, spans: InMemorySpanExporter
) -> None:
    client = PipelineClient(stack.url("scrapers"))
    run = client.scrape("bdl_games", {"date": "2025-02-20"})
    client.wait([run])
    mine = [
        s
        for s in spans.get_finished_spans()
        if s.attributes and s.attributes.get("execution_id") == run.execution_id
    ]
    names = sorted(s.name for s in mine)
    assert names == ["build", "load", "scrape bdl_games"]
    assert len({s.context.trace_id for s in mine}) == 1, "the three phases share one trace id"
    by_name = {s.name: s for s in mine}
    assert (
        by_name["load"].parent is not None
        and by_name["load"].parent.span_id == by_name["scrape bdl_games"].context.span_id
    )
    assert (
        by_name["build"].parent is not None
        and by_name["build"].parent.span_id == by_name["load"].context.span_id
    )
