"""API keys never reach logs, error messages, GCS files or the OpenAPI page."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.stack import LOCAL_API_KEY, LocalStack

pytestmark = pytest.mark.e2e


def test_keys_stay_out_of_every_sink(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = PipelineClient(stack.url("scrapers"))
    ok = client.scrape("oddsa_events", {"date": "2025-01-15"})
    assert ok.status_code == 200, ok
    stored = stack.clients.store.read_bytes(ok.result.gcs_path)[0].decode()
    assert json.loads(stored)["meta"]["request"]["requests"], "the request is recorded"

    faults = httpx.post(f"{stack.url('replay')}/_control/faults",
                        json={"prefix": "/oddsapi", "status": 500, "count": 10})  # fmt: skip
    assert faults.status_code == 201, faults.text
    failed = client.scrape("oddsa_events", {"date": "2025-01-16"})
    httpx.delete(f"{stack.url('replay')}/_control/faults")
    reset = httpx.post(f"{stack.url('scrapers')}/admin/circuit-breakers/reset", json={})
    assert reset.json()["closed"], (
        "three 500s opened the replay host's circuit; later tests need it"
    )
    assert failed.status_code == 502 and failed.status == "failed"
    execution = httpx.get(f"{stack.url('scrapers')}/executions/{failed.execution_id}").text

    sinks = {
        "gcs file": stored,
        "error message": failed.result.model_dump_json(),
        "execution log": execution,
        "logs": caplog.text,
        **{
            f"openapi {s}": httpx.get(f"{stack.url(s)}/openapi.json").text
            for s in ("scrapers", "processors", "analytics")
        },
    }
    leaked = [name for name, text in sinks.items() if LOCAL_API_KEY in text]
    assert leaked == []
