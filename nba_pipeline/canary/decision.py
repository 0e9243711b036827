"""Whether a canary revision is healthy enough to take all traffic, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LATENCY_SLACK_MS = 200.0
"""Added to the latency limit, so a fast service's few cold starts do not roll a canary back."""

Decision = Literal["promote", "rollback", "watch"]


class CanarySettings(BaseSettings):
    """How a canary is watched and judged; read from the environment like the deploy settings."""

    model_config = SettingsConfigDict(extra="ignore")

    canary_percent: int = Field(10, ge=1, le=99, description="traffic the canary gets, percent")
    canary_watch_seconds: int = Field(
        600, ge=60, description="how long the canary is watched before it may be promoted"
    )
    canary_check_seconds: int = Field(
        60, ge=10, description="how often its metrics are read; the first failing read rolls back"
    )
    canary_max_error_rate: float = Field(
        0.05, gt=0, le=1, description="share of 5xx answers the canary may have above the previous"
    )
    canary_max_latency_ratio: float = Field(
        1.5, ge=1, description="p95 latency the canary may have, times the previous revision's"
    )
    canary_min_requests: int = Field(
        10, ge=1, description="requests the canary must serve while watched, else it has no data"
    )


@dataclass(frozen=True)
class RevisionHealth:
    """A revision's requests over a window, as Cloud Monitoring counts them."""

    requests: int
    errors: int
    """Requests answered 5xx."""
    p95_ms: float | None
    """95th percentile of request latency; None when it served nothing."""

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def summary(self) -> str:
        latency = "-" if self.p95_ms is None else f"{self.p95_ms:.0f} ms"
        return f"{self.requests} requests, {self.errors} answered 5xx, p95 {latency}"


@dataclass(frozen=True)
class Verdict:
    """What to do with the canary, and the reason printed for the operator."""

    decision: Decision
    reason: str


def judge(
    canary: RevisionHealth, previous: RevisionHealth, limits: CanarySettings, watched_all: bool
) -> Verdict:
    """Roll back as soon as enough requests show the canary worse than the previous revision
    over the same window; promote once it was watched all along and stayed within the limits;
    roll back a canary that served too few requests to show anything (no data).

    The error limit is the previous revision's own rate plus CANARY_MAX_ERROR_RATE, so an
    upstream outage that fails both revisions' runs is not blamed on the release.
    """
    enough = canary.requests >= limits.canary_min_requests
    error_limit = previous.error_rate + limits.canary_max_error_rate
    if enough and canary.error_rate > error_limit:
        return Verdict(
            "rollback",
            f"error rate {canary.error_rate:.1%} ({canary.errors} of {canary.requests} requests "
            f"answered 5xx) is over {error_limit:.1%}: the previous revision's "
            f"{previous.error_rate:.1%} plus CANARY_MAX_ERROR_RATE "
            f"{limits.canary_max_error_rate:.0%}",
        )
    latency_limit = (
        None
        if previous.p95_ms is None
        else previous.p95_ms * limits.canary_max_latency_ratio + LATENCY_SLACK_MS
    )
    if (
        enough
        and canary.p95_ms is not None
        and latency_limit is not None
        and canary.p95_ms > latency_limit
    ):
        return Verdict(
            "rollback",
            f"p95 latency {canary.p95_ms:.0f} ms is over {latency_limit:.0f} ms: "
            f"CANARY_MAX_LATENCY_RATIO {limits.canary_max_latency_ratio:g} x the previous "
            f"revision's {previous.p95_ms:.0f} ms + {LATENCY_SLACK_MS:.0f} ms",
        )
    if not watched_all:
        return Verdict("watch", f"canary: {canary.summary()}; previous: {previous.summary()}")
    if not enough:
        return Verdict(
            "rollback",
            f"no data: {canary.requests} requests reached the canary while it was watched, "
            f"fewer than CANARY_MIN_REQUESTS ({limits.canary_min_requests}), so nothing shows "
            "it healthy; check it at its tagged URL and `make promote` it by hand, or watch it "
            "longer when there is traffic (CANARY_WATCH_SECONDS)",
        )
    latency = (
        f"p95 {canary.p95_ms:.0f} ms within {latency_limit:.0f} ms"
        if canary.p95_ms is not None and latency_limit is not None
        else "latency not compared (the previous revision served no request)"
    )
    return Verdict(
        "promote",
        f"healthy over {canary.requests} requests: error rate {canary.error_rate:.1%} within "
        f"{error_limit:.1%}, {latency}",
    )
