"""Metrics of the running stack, read with the SDK's in-memory reader."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from libs.common.messages import SCRAPER_COMPLETE_TOPIC
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.stack import LocalStack
from tests.utils.pubsub import pull_dlq

pytestmark = pytest.mark.e2e

DLQ_SUB = f"{SCRAPER_COMPLETE_TOPIC}-dlq-sub"


def points(reader: InMemoryMetricReader, name: str, **labels: str) -> list[Any]:
    """Data points of one metric whose attributes include `labels`."""
    data = reader.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += [
                        p
                        for p in metric.data.data_points
                        if labels.items() <= dict(p.attributes or {}).items()
                    ]
    return found


def total(reader: InMemoryMetricReader, name: str, **labels: str) -> float:
    return sum(p.value for p in points(reader, name, **labels))


def test_a_scrape_and_its_load_count_runs_and_rows(
    stack: LocalStack, metric_reader: InMemoryMetricReader
) -> None:
    scrape = {"phase": "scrape", "scraper_name": "bdl_games"}
    load = {"phase": "processors", "scraper_name": "bdl_games"}
    # Runs are counted by outcome: a redelivered failed run of another test may be counted
    # meanwhile (as skipped_failed_run, with no rows), a load of ours only as loaded.
    scrape_ok, loaded = {**scrape, "status": "success"}, {**load, "status": "loaded"}
    before = {
        key: total(metric_reader, metric, **labels)
        for key, metric, labels in [
            ("scrape_runs", "nba.runs", scrape_ok),
            ("scrape_rows", "nba.rows", scrape),
            ("load_runs", "nba.runs", loaded),
            ("load_rows", "nba.rows", load),
        ]
    }
    client = PipelineClient(stack.url("scrapers"))
    run = client.scrape("bdl_games", {"date": "2025-02-20"})
    client.wait([run])
    records = run.result.record_count
    assert records > 0
    assert total(metric_reader, "nba.runs", **scrape_ok) == before["scrape_runs"] + 1
    assert total(metric_reader, "nba.rows", **scrape) == before["scrape_rows"] + records
    assert total(metric_reader, "nba.runs", **loaded) == before["load_runs"] + 1
    assert total(metric_reader, "nba.rows", **load) == before["load_rows"] + records
    durations = points(metric_reader, "nba.run.duration", **scrape)
    assert sum(p.count for p in durations) >= 1


def test_dlq_depth_gauge_counts_a_dead_letter(
    stack: LocalStack, metric_reader: InMemoryMetricReader
) -> None:
    def depth() -> float:
        return total(metric_reader, "nba.dlq.depth", subscription=DLQ_SUB)

    before = depth()
    marker = uuid.uuid4().hex
    publisher = stack.clients.publisher  # type: ignore[union-attr]
    publisher.publish_bytes(f"{SCRAPER_COMPLETE_TOPIC}-dlq", b"{}", {"metrics_test": marker})
    try:
        # other tests' messages may reach the DLQ meanwhile: at least ours is counted
        assert depth() >= before + 1
        assert depth() >= before + 1, "counting hands the messages back"
    finally:
        mine = pull_dlq(
            stack.project, DLQ_SUB, lambda m: m.attributes.get("metrics_test") == marker, 1
        )
    assert len(mine) == 1
