"""Shared fixtures. The local stack is started once per session (per pytest-xdist worker that
runs an end-to-end test), for real, or the run fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nba_pipeline.stack import LocalStack, Ports

RECORDINGS = Path(__file__).resolve().parents[1] / "nba_pipeline" / "replay" / "recordings"


def pytest_configure(config: pytest.Config) -> None:
    """The suite runs in local mode, chosen explicitly as the local stack chooses it: push and
    admin routes check no token (tests/unit/test_auth.py turns checks on where they are the
    subject). Subprocesses the tests start inherit it."""
    os.environ["PUSH_AUTH_ENABLED"] = "false"


@pytest.fixture(scope="session", autouse=True)
def spans() -> InMemorySpanExporter:
    """Every span the in-process services finish, kept in memory. Installed before any test:
    the first service app to start installs its own provider otherwise, and OpenTelemetry
    keeps the first one set (a module's own stack, started before the session `stack`, did)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(scope="session", autouse=True)
def metric_reader() -> InMemoryMetricReader:
    """Every metric the in-process services record, read on demand (METRICS_EXPORTER=none installs none)."""
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, spans: InMemorySpanExporter
) -> Iterator[LocalStack]:
    """Emulators, replay upstream and the three services on free ports.

    A part that cannot start raises: an end-to-end test is never skipped for a missing emulator.
    """
    workdir = tmp_path_factory.mktemp("stack")
    with LocalStack(ports=Ports.free(), workdir=workdir, project="nba-test") as running:
        yield running


EMULATOR_VARIABLES = ("PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
"""Set by a running local stack; the client libraries reach the emulators through them."""


@pytest.fixture(autouse=True)
def no_emulators_outside_e2e(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test not marked e2e runs without the emulators' variables, as it would on a machine
    with no stack: one that leans on the stack an e2e test started fails here, in the same
    run, instead of passing only because the session's stack happens to be up."""
    if request.node.get_closest_marker("e2e") is None:
        for name in EMULATOR_VARIABLES:
            monkeypatch.delenv(name, raising=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a part that did not run (an emulator that did not start, a missing
    package): fail the run loudly instead of passing with less tested than it says."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(f"{len(skipped)} tests were skipped; skips fail this suite", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
