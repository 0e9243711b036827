"""The player-props contract the Odds API and BettingPros sources share: the markets both
books are fetched, stored and scored for, and how quotes pair into one row per line.

One list of markets, so the scrapers (what to ask each API for), the analytics (which
box-score stat a line is scored against) and the backfill's credit estimate (Odds API credits
are billed per market) cannot disagree about it; one pairing rule, so both props tables have
one shape.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from libs.common.sources.base import ParseContext, ParseError, Row
from libs.common.sources.parsing import lineage
from libs.common.tables.raw import PROPS_COLUMNS

log = logging.getLogger(__name__)

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


# --- the row contract both props tables share (their columns: libs/common/tables/raw.py) ---

PROPS_COLUMN_NAMES = tuple(c.name for c in PROPS_COLUMNS)
SIDES = ("over", "under")


class Quote(NamedTuple):
    """One side of one line at one book, before pairing; `path` is where it sat in the body."""

    bookmaker: str
    market: str
    player: str
    line: Any
    side: str
    price: Any
    path: str


def _number(value: Any, scraper: str, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(scraper, path, f"expected a number, got {value!r}")
    return value


PropKey = tuple[str, str, str, float]
"""(bookmaker, market, player, line): one props row."""


class Pairing(NamedTuple):
    """Each key's kept (first) listing, and how many later listings were dropped per book."""

    sides: dict[PropKey, dict[str, int | float]]
    dropped: Counter[str]


def pair_sides(quotes: Iterable[Quote], scraper: str) -> Pairing:
    """Over and under prices of each key's first listing, keys in first-seen order.

    A book can list the same key more than once with other prices (williamhill_us does). Each
    side is numbered in order of appearance per key; the n-th over and n-th under form listing
    n. Listing 1, the book's main line, is kept; later ones are dropped whole, so an over of one
    listing is never paired with the under of another, and a side only a later listing has
    (a lone extra over) stays out of the row. A missing side simply stays absent.
    """
    paired: dict[PropKey, dict[str, int | float]] = {}
    seen: Counter[tuple[PropKey, str]] = Counter()
    listings: Counter[PropKey] = Counter()
    for quote in quotes:
        if quote.side not in SIDES:
            raise ParseError(
                scraper, quote.path, f"expected an over or under side, got {quote.side!r}"
            )
        line = float(_number(quote.line, scraper, quote.path))
        key = (quote.bookmaker, quote.market, quote.player, line)
        price = _number(quote.price, scraper, quote.path)
        seen[key, quote.side] += 1
        listings[key] = max(listings[key], seen[key, quote.side])
        if seen[key, quote.side] == 1:
            paired.setdefault(key, {})[quote.side] = price
    dropped: Counter[str] = Counter()
    for (bookmaker, *_), count in listings.items():
        dropped[bookmaker] += count - 1
    return Pairing(paired, +dropped)


class PropsParse(NamedTuple):
    """A props body's rows, and the later listings it dropped per bookmaker.

    `Source.parse` returns the rows alone; a caller that records the drops calls the parser
    behind it (`parse_event_odds`, `bettingpros.parse_offers`) for this instead.
    """

    rows: list[Row]
    dropped: Counter[str]


def kept_rows(scraper: str, parsed: PropsParse, ctx: ParseContext) -> list[Row]:
    """The rows, after one log line per file if repeated listings were dropped.

    Dropping them is the rule, not a failure, so the file loads; the line (INFO: a known
    upstream habit, not a fault, seen on a quarter of a season's games) keeps the quirk
    visible (which books, how often) without failing every other book's lines.
    """
    if parsed.dropped:
        log.info(
            "repeated player-props listings dropped (each key keeps its book's first listing)",
            extra={
                "fields": {
                    "scraper_name": scraper,
                    "bookmakers": dict(sorted(parsed.dropped.items())),
                    "dropped_listings": parsed.dropped.total(),
                    "execution_id": ctx.execution_id,
                    "source_file": ctx.source_file,
                }
            },
        )
    return parsed.rows


def props_rows(
    paired: Mapping[PropKey, Mapping[str, int | float]],
    event: Row,
    ctx: ParseContext,
) -> list[Row]:
    """Rows in column order; `event` holds the per-body columns (event, format, snapshot)."""
    rows = []
    for (bookmaker, market, player, line), sides in paired.items():
        row = {
            **event,
            "bookmaker": bookmaker,
            "market": market,
            "player_name": player,
            "line": line,
            "over_price": sides.get("over"),
            "under_price": sides.get("under"),
            **lineage(ctx),
        }
        rows.append({name: row[name] for name in PROPS_COLUMN_NAMES})
    return rows
