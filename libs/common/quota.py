"""Upstream usage quotas: which response headers report them, what one run spent, and what
an Odds API request costs (the replay server charges it, `nba-pipeline backfill` estimates it).

The Odds API answers every request with `x-requests-remaining` (credits left until the quota
resets), `x-requests-used` (credits used since the reset) and `x-requests-last` (what this
request cost). balldontlie documents per-minute rate limits and no quota headers; ESPN,
NBA.com and BettingPros have no quota. https://the-odds-api.com/liveapi/guides/v4/
"""

from __future__ import annotations

from collections.abc import Mapping

from libs.common.sources.upstreams import UPSTREAMS, QuotaHeaders

QUOTA_HEADERS: Mapping[str, QuotaHeaders] = {
    name: spec.quota for name, spec in UPSTREAMS.items() if spec.quota is not None
}
"""Upstreams (`Source.upstream` names) that report a usage quota, and how (their specs in
`sources/upstreams.py`); the dashboard lists exactly these."""

HISTORICAL_ODDS_MULTIPLIER = 10
"""A historical odds request costs 10 credits per market per region (a current one 1)."""
HISTORICAL_EVENTS_COST = 1
"""A historical events list costs 1 credit; the current events list is free."""


def odds_api_cost(historical: bool, markets: int = 0, regions: int = 0) -> int:
    """Credits one Odds API request costs: an events list (no markets), or odds of the
    given number of markets and regions. The Odds API bills the markets it returns, so for
    the markets asked this is the most a request can cost."""
    if markets == 0:
        return HISTORICAL_EVENTS_COST if historical else 0
    return markets * regions * (HISTORICAL_ODDS_MULTIPLIER if historical else 1)


def _count(value: str | None) -> int | None:
    """A header's integer (The Odds API may send `10.0`), or None when absent or not a number."""
    try:
        return int(float(value)) if value is not None else None
    except (ValueError, OverflowError):  # "nan", "inf": not a count
        return None


class QuotaTally:
    """What one run's responses said about its upstream's quota.

    Responses of one run may arrive out of order (several requests in flight), so the
    remaining credits are the lowest seen and the used ones the highest; the run's cost is
    the sum of every response's `last`, retried attempts included.
    """

    def __init__(self, upstream: str) -> None:
        self.headers = QUOTA_HEADERS.get(upstream)
        self.remaining: int | None = None
        self.used: int | None = None
        self.cost: int | None = None

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take one response's quota headers (a response without them changes nothing)."""
        if self.headers is None:
            return
        remaining = _count(headers.get(self.headers.remaining))
        used = _count(headers.get(self.headers.used))
        last = _count(headers.get(self.headers.last))
        if remaining is not None:
            self.remaining = remaining if self.remaining is None else min(self.remaining, remaining)
        if used is not None:
            self.used = used if self.used is None else max(self.used, used)
        if last is not None:
            self.cost = (self.cost or 0) + last

    def columns(self) -> dict[str, int | None]:
        """The run's quota columns of `scraper_execution_log` (all None without quota headers)."""
        return {"quota_remaining": self.remaining, "quota_used": self.used, "quota_cost": self.cost}
