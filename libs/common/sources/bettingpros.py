"""BettingPros v3: NBA events and player-props offers (page-numbered, 10 offers a page).

Offers carry one player each, with the over and under selections listed separately per book;
rows pair them by (book, line) into the props row contract of `props`, which the Odds API shares. One offers
request asks for one market, so a props run asks for each of `props.MARKETS` in turn.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.clock import eastern_date
from libs.common.messages import GameDate
from libs.common.sources.base import (
    Fetcher,
    ParseContext,
    ParseError,
    Row,
    Source,
    get_json_each,
)
from libs.common.sources.params import DateParams
from libs.common.sources.parsing import lineage, need, need_list, parse_timestamp
from libs.common.sources.props import (
    BY_BETTINGPROS_ID,
    BY_KEY,
    MARKETS,
    Market,
    PropsParse,
    Quote,
    kept_rows,
    pair_sides,
    props_rows,
)
from libs.common.tables.raw import BETTINGPROS_EVENTS, BETTINGPROS_PLAYER_POINTS_PROPS

PROPS = "bp_player_props"
MAX_PAGES = 100
"""Safety stop: a full slate is ~15 pages of 10 offers per market."""
BOOKS = {0: "consensus", 10: "fanduel", 12: "draftkings", 13: "caesars", 19: "betmgm"}
"""BettingPros book ids to the bookmaker names the Odds API uses; others become `book_<id>`."""


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


def _quotes(offer: Any, market: str, player: str, where: str) -> Iterable[Quote]:
    """Every active line of every book of both selections of one offer."""
    for i, selection in enumerate(need_list(offer, "selections", PROPS, where)):
        at_selection = f"{where}.selections[{i}]"
        side = str(need(selection, "selection", PROPS, at_selection)).lower()
        for j, book in enumerate(need_list(selection, "books", PROPS, at_selection)):
            at_book = f"{at_selection}.books[{j}]"
            book_id = need(book, "id", PROPS, at_book)
            bookmaker = BOOKS.get(book_id, f"book_{book_id}")
            for k, line in enumerate(need_list(book, "lines", PROPS, at_book)):
                path = f"{at_book}.lines[{k}]"
                if need(line, "active", PROPS, path) is True:
                    price = need(line, "cost", PROPS, path)
                    yield Quote(
                        bookmaker,
                        market,
                        player,
                        need(line, "line", PROPS, path),
                        side,
                        price,
                        path,
                    )


def _listed_market(body: Any) -> Any:
    """The market an offers body was asked for: the one its `markets` lists, if only one."""
    listed = body.get("markets") if isinstance(body, dict) else None
    ids = [m.get("id") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    return ids[0] if len(ids) == 1 else None


def _market(offer: Any, listed: Any, where: str) -> Market | None:
    """The offer's market: its own `market_id`, else its body's; None if not one we keep."""
    market_id = offer.get("market_id", listed) if isinstance(offer, dict) else listed
    if market_id is None:
        raise ParseError(
            PROPS, f"{where}.market_id", "missing, and the body's `markets` names no one market"
        )
    return BY_BETTINGPROS_ID.get(market_id)


def _tip_offs(events: list[Any], where: str) -> dict[str, Row]:
    """Event id to its tip-off and teams, from the events list a props run stores beside the
    offers (offers carry neither)."""
    tips = {}
    for i, event in enumerate(events):
        at = f"{where}[{i}]"
        scheduled = need(event, "scheduled", PROPS, at)
        tips[str(need(event, "id", PROPS, at))] = {
            "commence_time": parse_timestamp(scheduled, PROPS, f"{at}.scheduled"),
            "home_team": event.get("home"),
            "away_team": event.get("visitor"),
        }
    return tips


def _offer_bodies(body: Any) -> tuple[list[tuple[str, Any, Any]], dict[str, Row]]:
    """(path, offers body, the market it was asked for) of each market a run stored, and the
    tip-offs of its events.

    A run stores `{events, offers_by_market: [one offers body per market]}`, each body naming
    its market in `markets`. A file stored before other markets than points were fetched is
    one offers body, `{offers, markets}`, and was asked for points whatever it lists.
    """
    if not (isinstance(body, dict) and "offers_by_market" in body):
        return [("", body, BY_KEY["player_points"].bettingpros_id)], {}
    bodies = need_list(body, "offers_by_market", PROPS)
    tips = _tip_offs(need_list(body, "events", PROPS), "events")
    return [(f"offers_by_market[{i}]", b, _listed_market(b)) for i, b in enumerate(bodies)], tips


def parse_offers(body: Any, ctx: ParseContext) -> PropsParse:
    """Offers to one row per (book, market, player, line); prices are american `cost`s.

    Offers carry no date, so game_date comes from the run's params; tip-off and teams come
    from the events stored beside them (NULL in a file stored without). An offer's market is
    its `market_id`, else the one market its body lists; markets other than `props.MARKETS`
    are not this table's. A book listing one line twice keeps its first listing, the Odds
    API's rule (`pair_sides`).
    """
    bodies, tips = _offer_bodies(body)
    rows: list[Row] = []
    dropped: Counter[str] = Counter()
    for prefix, one, listed in bodies:
        offers = need_list(one, "offers", PROPS, prefix)
        if offers and ctx.game_date is None:
            raise ParseError(PROPS, "game_date", "offers carry no date; the run's params must")
        for i, offer in enumerate(offers):
            where = f"{prefix}.offers[{i}]" if prefix else f"offers[{i}]"
            market = _market(offer, listed, where)
            if market is None:
                continue
            participants = need_list(offer, "participants", PROPS, where)
            if not participants:
                raise ParseError(PROPS, f"{where}.participants", "empty")
            player = need(participants[0], "name", PROPS, f"{where}.participants[0]")
            event_id = str(need(offer, "event_id", PROPS, where))
            event = {
                "event_id": event_id,
                "game_date": ctx.game_date,
                **tips.get(event_id, dict.fromkeys(("commence_time", "home_team", "away_team"))),
                "odds_format": "american",
                "snapshot_at": ctx.fetched_at,
            }
            paired = pair_sides(_quotes(offer, market.key, player, where), PROPS)
            rows += props_rows(paired.sides, event, ctx)
            dropped += paired.dropped
    return PropsParse(rows, dropped)


def parse_props(body: Any, ctx: ParseContext) -> list[Row]:
    """`parse_offers` as a `Source.parse`: the rows, with dropped listings logged."""
    return kept_rows(PROPS, parse_offers(body, ctx), ctx)


EventId = Annotated[int, Field(gt=0, lt=2**31, description="a BettingPros event id")]
MAX_EVENT_IDS = 30
"""Twice a full slate: the ids go into one request's query, which an upstream refuses when long."""


class BpPropsParams(BaseModel):
    """Player-props offers (every market) for the events of one game date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"date": "2025-02-20"},
                {"date": "2025-02-20", "event_ids": [27001, 27002]},
            ]
        },
    )
    date: GameDate = Field(description="game date, YYYY-MM-DD (US Eastern calendar day)")
    event_ids: list[EventId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EVENT_IDS,
        description="BettingPros event ids (at most 30: a date has 15 games at most); "
        "default: every event /v3/events lists for `date`",
    )


def _events_query(day: dt.date) -> dict[str, Any]:
    return {"sport": "NBA", "date": day.isoformat()}


async def _fetch_events(fetcher: Fetcher, params: DateParams) -> Any:
    return await fetcher.get_json("/v3/events", _events_query(params.date))


async def _market_offers(fetcher: Fetcher, ids: list[Any], market_id: int) -> Any:
    """Page 1 of one market's offers, then pages 2..`_pagination.total_pages`, merged into
    page 1's body."""
    query = {
        "sport": "NBA",
        "market_id": market_id,
        "event_id": ":".join(str(i) for i in ids),
        "book_id": "null",
        "limit": 10,
    }
    first = await fetcher.get_json("/v3/offers", {**query, "page": 1})
    offers = list(need_list(first, "offers", PROPS))
    total = int((first.get("_pagination") or {}).get("total_pages") or 1)
    if total > MAX_PAGES:
        raise RuntimeError(f"/v3/offers: {total} pages, more than {MAX_PAGES}; stopping")
    pages = [("/v3/offers", {**query, "page": page}) for page in range(2, total + 1)]
    for page, body in enumerate(await get_json_each(fetcher, pages), start=2):
        offers += need_list(body, "offers", PROPS, f"<market {market_id} page {page}>")
    return {**first, "offers": offers}


async def _fetch_props(fetcher: Fetcher, params: BpPropsParams) -> Any:
    """The date's events (offers carry no tip-off), then every market's offers for the events
    asked for, default every listed one: `{events, offers_by_market}`. A date without events
    makes no offers request."""
    listed = await fetcher.get_json("/v3/events", _events_query(params.date))
    events = need_list(listed, "events", PROPS, "<events>")
    ids = params.event_ids or [need(e, "id", PROPS, f"<events>[{i}]") for i, e in enumerate(events)]
    bodies = [await _market_offers(fetcher, ids, m.bettingpros_id) for m in MARKETS] if ids else []
    return {"events": events, "offers_by_market": bodies}


SOURCES = (
    Source("bp_events", "bettingpros", "bettingpros/events", BETTINGPROS_EVENTS, DateParams,
           _fetch_events, parse_events, "BettingPros NBA events on a date."),
    Source("bp_player_props", "bettingpros", "bettingpros/player-props",
           BETTINGPROS_PLAYER_POINTS_PROPS, BpPropsParams, _fetch_props, parse_props,
           "Player-props over/under lines per book and market, every event on a date."),
)  # fmt: skip
