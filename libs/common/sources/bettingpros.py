"""BettingPros v3: NBA events and player-points offers (page-numbered, 10 offers a page).

Offers carry one player each, with the over and under selections listed separately per book;
rows pair them by (book, line) into the shared props row contract of `oddsapi`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.sources.base import (
    Fetcher,
    ParseContext,
    ParseError,
    Row,
    Source,
    get_json_each,
)
from libs.common.sources.oddsapi import (
    PropsParse,
    Quote,
    eastern_date,
    kept_rows,
    pair_sides,
    props_rows,
    props_table,
)
from libs.common.sources.params import DateParams
from libs.common.sources.parsing import lineage, need, need_list, parse_timestamp
from libs.common.warehouse.schema import LINEAGE_COLUMNS, Table, col

MARKET_ID = 156
"""BettingPros' NBA player-points market."""
MAX_PAGES = 100
"""Safety stop: a full slate is ~15 pages of 10 offers."""
BOOKS = {0: "consensus", 10: "fanduel", 12: "draftkings", 13: "caesars", 19: "betmgm"}
"""BettingPros book ids to the bookmaker names the Odds API uses; others become `book_<id>`."""

BETTINGPROS_EVENTS = Table(
    "nba_raw",
    "bettingpros_events",
    (
        col("event_id", "STRING", True, "BettingPros event id (text, to join the props table)"),
        col("sr_id", "STRING", description="Sportradar game id"),
        col("game_date", "DATE", True, "US Eastern date of `scheduled`"),
        col("scheduled", "TIMESTAMP", True, "scheduled tip-off (UTC)"),
        col("season", "INT64"),
        col("season_type", "STRING", description="e.g. REG"),
        col("status", "STRING", description="e.g. scheduled, closed"),
        col("home", "STRING", True, "home team abbreviation"),
        col("visitor", "STRING", True, "visiting team abbreviation"),
        col("venue_name", "STRING"),
        col("venue_city", "STRING"),
        col("venue_state", "STRING"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("event_id", "source_file"),
    partition_column="game_date",
    description="Every fetched list of BettingPros events (snapshot source).",
)

BETTINGPROS_PLAYER_POINTS_PROPS = props_table(
    "bettingpros_player_points_props",
    "One row per (snapshot, book, player, line) with its over and under prices.",
)


def parse_events(body: Any, ctx: ParseContext) -> list[Row]:
    """`{events: [event]}` to one row per event, dated by its own tip-off."""
    name = "bp_events"
    rows = []
    for i, event in enumerate(need_list(body, "events", name)):
        where = f"events[{i}]"
        scheduled = parse_timestamp(
            need(event, "scheduled", name, where), name, f"{where}.scheduled"
        )
        venue = event.get("venue")
        venue = venue if isinstance(venue, dict) else {}
        rows.append(
            {
                "event_id": str(need(event, "id", name, where)),
                "sr_id": event.get("sr_id"),
                "game_date": eastern_date(scheduled),
                "scheduled": scheduled,
                "season": event.get("season"),
                "season_type": event.get("season_type"),
                "status": event.get("status"),
                "home": need(event, "home", name, where),
                "visitor": need(event, "visitor", name, where),
                "venue_name": venue.get("name"),
                "venue_city": venue.get("city"),
                "venue_state": venue.get("state"),
                **lineage(ctx),
            }
        )
    return rows


def _quotes(offer: Any, player: str, name: str, where: str) -> Iterable[Quote]:
    """Every active line of every book of both selections of one offer."""
    for i, selection in enumerate(need_list(offer, "selections", name, where)):
        at_selection = f"{where}.selections[{i}]"
        side = str(need(selection, "selection", name, at_selection)).lower()
        for j, book in enumerate(need_list(selection, "books", name, at_selection)):
            at_book = f"{at_selection}.books[{j}]"
            book_id = need(book, "id", name, at_book)
            bookmaker = BOOKS.get(book_id, f"book_{book_id}")
            for k, line in enumerate(need_list(book, "lines", name, at_book)):
                path = f"{at_book}.lines[{k}]"
                if need(line, "active", name, path) is True:
                    price = need(line, "cost", name, path)
                    yield Quote(
                        bookmaker, player, need(line, "line", name, path), side, price, path
                    )


def parse_offers(body: Any, ctx: ParseContext) -> PropsParse:
    """`{offers: [offer]}` to one row per (book, player, line); prices are american `cost`s.

    Offers carry no date or teams, so game_date comes from the run's params and
    commence_time / home_team / away_team stay NULL (bettingpros_events has them). A book
    listing one line twice keeps its first listing, the Odds API's rule (`pair_sides`).
    """
    name = "bp_player_props"
    offers = need_list(body, "offers", name)
    if offers and ctx.game_date is None:
        raise ParseError(name, "game_date", "offers carry no date; the run's params must")
    rows: list[Row] = []
    dropped: Counter[str] = Counter()
    for i, offer in enumerate(offers):
        where = f"offers[{i}]"
        participants = need_list(offer, "participants", name, where)
        if not participants:
            raise ParseError(name, f"{where}.participants", "empty")
        player = need(participants[0], "name", name, f"{where}.participants[0]")
        event = {
            "event_id": str(need(offer, "event_id", name, where)),
            "game_date": ctx.game_date,
            "commence_time": None,
            "home_team": None,
            "away_team": None,
            "market": "player_points",
            "odds_format": "american",
            "snapshot_at": ctx.fetched_at,
        }
        paired = pair_sides(_quotes(offer, player, name, where), name)
        rows += props_rows(paired.sides, event, ctx)
        dropped += paired.dropped
    return PropsParse(rows, dropped)


def parse_props(body: Any, ctx: ParseContext) -> list[Row]:
    """`parse_offers` as a `Source.parse`: the rows, with dropped listings logged."""
    return kept_rows("bp_player_props", parse_offers(body, ctx), ctx)


class BpPropsParams(BaseModel):
    """Player-points offers for the events of one game date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"date": "2025-02-20"},
                {"date": "2025-02-20", "event_ids": [27001, 27002]},
            ]
        },
    )
    date: dt.date = Field(description="game date, YYYY-MM-DD (US Eastern calendar day)")
    event_ids: list[int] | None = Field(
        default=None,
        min_length=1,
        description="BettingPros event ids; default: every event /v3/events lists for `date`",
    )


def _events_query(day: dt.date) -> dict[str, Any]:
    return {"sport": "NBA", "date": day.isoformat()}


async def _fetch_events(fetcher: Fetcher, params: BaseModel) -> Any:
    assert isinstance(params, DateParams)
    return await fetcher.get_json("/v3/events", _events_query(params.date))


async def _event_ids(fetcher: Fetcher, day: dt.date) -> list[Any]:
    body = await fetcher.get_json("/v3/events", _events_query(day))
    events = need_list(body, "events", "bp_player_props")
    return [need(e, "id", "bp_player_props", f"events[{i}]") for i, e in enumerate(events)]


async def _fetch_props(fetcher: Fetcher, params: BaseModel) -> Any:
    """Page 1, then pages 2..`_pagination.total_pages`, offers merged into page 1's body.

    With no event ids given, the date's events are listed first; a date without events
    makes no offers request and stores `{"offers": []}`.
    """
    assert isinstance(params, BpPropsParams)
    ids = params.event_ids or await _event_ids(fetcher, params.date)
    if not ids:
        return {"offers": []}
    query = {
        "sport": "NBA",
        "market_id": MARKET_ID,
        "event_id": ":".join(str(i) for i in ids),
        "book_id": "null",
        "limit": 10,
    }
    first = await fetcher.get_json("/v3/offers", {**query, "page": 1})
    offers = list(need_list(first, "offers", "bp_player_props"))
    total = int((first.get("_pagination") or {}).get("total_pages") or 1)
    if total > MAX_PAGES:
        raise RuntimeError(f"/v3/offers: {total} pages, more than {MAX_PAGES}; stopping")
    pages = [("/v3/offers", {**query, "page": page}) for page in range(2, total + 1)]
    for page, body in enumerate(await get_json_each(fetcher, pages), start=2):
        offers += need_list(body, "offers", "bp_player_props", f"<page {page}>")
    return {**first, "offers": offers}


SOURCES = (
    Source("bp_events", "bettingpros", "bettingpros/events", BETTINGPROS_EVENTS, DateParams,
           _fetch_events, parse_events, "BettingPros NBA events on a date."),
    Source("bp_player_props", "bettingpros", "bettingpros/player-props",
           BETTINGPROS_PLAYER_POINTS_PROPS, BpPropsParams, _fetch_props, parse_props,
           "Player-points over/under lines per book, every page of every event on a date."),
)  # fmt: skip
