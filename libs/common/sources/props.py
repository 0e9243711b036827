"""The player-props markets both books are fetched, stored and scored for.

One list, so the scrapers (what to ask each API for), the analytics (which box-score stat a
line is scored against) and the backfill's credit estimate (Odds API credits are billed per
market) cannot disagree about it.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSING_LINE_MAX_AGE_MINUTES = 30
"""Default of the setting `CLOSING_LINE_MAX_AGE_MINUTES`: a closing line (the last snapshot
before tip-off) taken longer than this before tip-off is flagged stale, since the captures
near tip-off were missed."""


@dataclass(frozen=True)
class Market:
    """One over/under player market as each upstream names it."""

    key: str
    """The Odds API's market key, also the `market` value stored in both props tables."""
    bettingpros_id: int
    """BettingPros' `market_id` for the same market."""
    stat: tuple[str, ...]
    """`nba_analytics.player_game_summary` columns whose sum is the stat the line is on."""
    label: str


MARKETS: tuple[Market, ...] = (
    Market("player_points", 156, ("points",), "Points"),
    Market("player_rebounds", 157, ("rebounds",), "Rebounds"),
    Market("player_assists", 151, ("assists",), "Assists"),
    Market("player_threes", 162, ("fg3_made",), "Threes made"),
    Market("player_points_rebounds_assists", 338, ("points", "rebounds", "assists"), "Pts+Reb+Ast"),
)
"""Odds API keys as its v4 betting-markets page lists them (the recorded body carries
`player_points`); BettingPros ids as its `/v3/markets` lists them (no recorded offers body)."""

MARKET_KEYS: tuple[str, ...] = tuple(market.key for market in MARKETS)
"""Every stored `market` value, in the order requests ask for them."""

BY_KEY: dict[str, Market] = {market.key: market for market in MARKETS}
BY_BETTINGPROS_ID: dict[int, Market] = {market.bettingpros_id: market for market in MARKETS}
