"""Freshness under paced load and the throughput ceiling, each beside the bare emulator push."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from libs.common.messages import Phase
from nba_pipeline.bench import events as ev
from nba_pipeline.bench.bare import NoopEndpoint
from nba_pipeline.bench.integrity import duplicated_keys, missing_rows
from nba_pipeline.bench.report import Figure, Results, percentile
from nba_pipeline.replay.season import SEASON_START, Season
from nba_pipeline.stack import LocalStack

TARGET_RATE = 50
"""Events per second at which the freshness targets apply."""
P50_TARGET, P99_TARGET = 1.0, 3.0
THROUGHPUT_TARGET = 0.5
"""Pipeline rate as a share of the bare push rate."""


@dataclass(frozen=True)
class LoadPlan:
    rates: tuple[int, ...]
    seconds_per_rate: float
    burst: int
    """Messages published at once for the throughput ceiling."""
    first_day: dt.date = SEASON_START
    """Events cycle over the season's game dates from this one."""


def _percentiles(
    section: str,
    what: str,
    values: list[float],
    floor: list[float],
    targets: dict[int, float] | None = None,
) -> list[Figure]:
    figures = []
    for pct in (50, 95, 99):
        value, base = percentile(values, pct), percentile(floor, pct)
        target = (targets or {}).get(pct)
        figures.append(
            Figure(
                section,
                f"{what} p{pct}",
                value,
                "s",
                value / base,
                "bare push",
                f"< {target:g} s" if target else "",
                value < target if target else None,
            )
        )
    return figures


def _run(
    stack: LocalStack, events: list[ev.Event], rate: float | None, results: Results
) -> dict[tuple[str, str], list[float]]:
    """Publish, wait until every event reached analytics, check each was applied exactly once."""
    assert stack.clients is not None
    ev.publish(stack.clients.publisher, events, rate)
    found = ev.wait_landed(stack.clients.warehouse, events, timeout=60 + len(events) / 5)
    for problem in ev.check_exactly_once(found, events):
        results.problem(problem)
    return found


def freshness(
    stack: LocalStack, season: Season, noop: NoopEndpoint, plan: LoadPlan, results: Results
) -> None:
    """p50/p95/p99 publish-to-raw and publish-to-analytics at each rate, beside the bare push."""
    assert stack.clients is not None
    for rate in plan.rates:
        count = int(rate * plan.seconds_per_rate)
        bare, _ = noop.publish_and_collect(stack.clients.publisher, count, rate)
        events = ev.write_events(stack.clients.store, season, count, plan.first_day)
        found = _run(stack, events, rate, results)
        targets = {50: P50_TARGET, 99: P99_TARGET} if rate == TARGET_RATE else None
        section = f"freshness {rate}/s"
        results.add(
            Figure(section, "bare push p50 (emulator to no-op app)", percentile(bare, 50), "s"),
            *_percentiles(
                section, "to raw rows", ev.delays(events, found, Phase.LOAD), bare, targets
            ),
            *_percentiles(
                section, "to analytics rows", ev.delays(events, found, Phase.BUILD), bare
            ),
        )
        for problem in missing_rows(stack.clients.warehouse, season, ev.tables_loaded(events)):
            results.problem(problem)


def throughput(
    stack: LocalStack, season: Season, noop: NoopEndpoint, plan: LoadPlan, results: Results
) -> None:
    """A burst to the no-op endpoint, then the same burst of events through the pipeline.

    The emulator keeps a fixed number of pushes in flight per subscription, so a push
    subscription's rate is that number over the handler's time per message; the figures show
    the time per message the target allows beside the pipeline's.
    """
    assert stack.clients is not None
    in_flight = noop.pushes_in_flight(stack.clients.publisher)
    _, bare_rate = noop.publish_and_collect(stack.clients.publisher, plan.burst, None)
    events = ev.write_events(stack.clients.store, season, plan.burst, plan.first_day)
    found = _run(stack, events, None, results)
    first = min(e.sent for e in events)
    rates = {}
    for phase in (Phase.LOAD, Phase.BUILD):
        last = max(
            min(found[(e.execution_id, phase)]) for e in events if (e.execution_id, phase) in found
        )
        rates[phase] = len(events) / (last - first)
    allowed = in_flight / (THROUGHPUT_TARGET * bare_rate)
    results.add(
        Figure("throughput", "bare push rate (emulator to no-op app)", bare_rate, "msg/s"),
        Figure(
            "throughput",
            "pipeline: events loaded to raw",
            rates[Phase.LOAD],
            "ev/s",
            rates[Phase.LOAD] / bare_rate,
            "bare push",
            f">= {THROUGHPUT_TARGET:.0%} of bare",
            rates[Phase.LOAD] / bare_rate >= THROUGHPUT_TARGET,
        ),
        Figure(
            "throughput",
            "pipeline: events through analytics",
            rates[Phase.BUILD],
            "ev/s",
            rates[Phase.BUILD] / bare_rate,
            "bare push",
        ),
        Figure("throughput", "emulator: pushes in flight per subscription", in_flight, "msgs"),
        Figure(
            "throughput",
            "time per message the target allows (in flight / rate)",
            allowed * 1000,
            "ms",
        ),
        Figure(
            "throughput",
            "processors: time per message (in flight / rate)",
            in_flight / rates[Phase.LOAD] * 1000,
            "ms",
            in_flight / rates[Phase.LOAD] / allowed,
            "allowed",
        ),
    )
    for problem in duplicated_keys(stack.clients.warehouse):
        results.problem(problem)
