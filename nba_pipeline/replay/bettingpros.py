"""BettingPros v3 as replayed: NBA events of a date and player-props offers, page-numbered.

Offers for `market_id=M&event_id=A:B` list every player of those events quoted in market M,
in order, `limit` a page, with `_pagination {page, total_pages}` and the market in `markets`;
books are 0 consensus, 10 FanDuel and 12 DraftKings. Lines are the closing ones, and each
selection's `opening_line` is the consensus line it opened at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from libs.common.sources.props import BY_BETTINGPROS_ID, MARKETS, Market
from nba_pipeline.replay import recordings
from nba_pipeline.replay.http import Memo, encode, json_response
from nba_pipeline.replay.league import Club
from nba_pipeline.replay.season import BP_BOOKS, SEASON_YEAR, Game, Player, Quote, Season, Side

PREFIX = "/bettingpros"
BOOK_IDS = {name: book_id for book_id, name in BP_BOOKS.items()}
SIDES = ("over", "under")


def bp_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def participant(side: Side) -> dict[str, Any]:
    club = side.club
    return {
        "id": club.abbr,
        "name": club.name,
        "link": f"/nba/teams/{club.long_slug}/",
        "team": {
            "city": club.city,
            "abbreviation": club.abbr,
            "conference": f"{club.conference}ern",
            "division": club.division,
            "record": {"W": side.wins, "L": side.losses, "T": 0},
            "slug": club.long_slug,
        },
    }


def lineup_entry(p: Player, started: bool) -> dict[str, Any]:
    return {
        "status": "started" if started else "bench",
        "participant": {
            "id": str(p.bp_id),
            "name": p.bp_name,
            "link": f"/nba/props/{p.slug}/",
            "player": {
                "short_name": p.short_name,
                "first_name": p.first_name,
                "last_name": p.last_name,
                "position": p.position[0],
                "team": p.club.abbr,
                "slug": p.slug,
                "jersey_number": int(p.jersey),
            },
        },
    }


def _scores(home: tuple[Club, int], away: tuple[Club, int]) -> list[dict[str, Any]]:
    return [{"participant": club.abbr, "score": score} for club, score in (home, away)]


def event(season: Season, g: Game) -> dict[str, Any]:
    home, away = g.home.club, g.away.club
    quarters = season.linescore(g)
    winner = home if g.home.score > g.away.score else away
    return {
        "id": g.bp_id,
        "sr_id": str(uuid.UUID(hashlib.md5(f"sr:{g.nba_id}".encode()).hexdigest())),
        "sport": "NBA",
        "scheduled": bp_time(g.start),
        "season": SEASON_YEAR,
        "season_type": "REG",
        "event_name": None,
        "status": "closed",
        "home": home.abbr,
        "visitor": away.abbr,
        "link": f"/nba/matchups/{home.long_slug}-vs-{away.long_slug}/?date={g.date}",
        "series_summary": None,
        "popularity": 100 + g.index % 50,
        "lineups": {
            "home_lineup": [lineup_entry(p, i < 5) for i, p in enumerate(g.home.playing)],
            "away_lineup": [lineup_entry(p, i < 5) for i, p in enumerate(g.away.playing)],
            "home_lineup_type": "confirmed",
            "away_lineup_type": "confirmed",
        },
        "venue": {
            "name": home.arena,
            "id": None,
            "city": home.arena_city,
            "state": home.arena_state,
            "country": "Canada" if home.abbr == "TOR" else "USA",
            "zip": None,
        },
        "participants": [participant(g.home), participant(g.away)],
        "broadcasts": [],
        "results": {
            "outcomes": [
                {
                    "label": "event",
                    "winner": winner.abbr,
                    "scores": _scores((home, g.home.score), (away, g.away.score)),
                }
            ],
            "periods": [
                {
                    "name": "quarter" if n <= 4 else "overtime",
                    "number": n if n <= 4 else n - 4,
                    "scores": _scores((home, h), (away, a)),
                }
                for n, (h, a) in enumerate(zip(*quarters, strict=True), 1)
            ],
        },
        "is_free": False,
    }


def events_body(season: Season, day: dt.date) -> dict[str, Any]:
    return {
        "_parameters": {"sport": "NBA", "date": day.isoformat(), "direction": "asc"},
        "events": [event(season, g) for g in season.games_on(day)],
        "ts": int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12), dt.UTC).timestamp()),
        "utc": f"{day + dt.timedelta(days=1)} 12:00:00",
    }


def offer(g: Game, market: Market, player: Player, quotes: list[Quote]) -> dict[str, Any]:
    """One player's offer in one market: over and under selections, a line per book."""
    consensus = next(q for q in quotes if q.book == "consensus")
    opening_line, opening_cost, _ = consensus.opening or (consensus.line, consensus.over, 0)
    updated = bp_time(g.start - dt.timedelta(hours=1))
    number = MARKETS.index(market)
    selections = []
    for n, side in enumerate(SIDES):
        costs = [q.over if side == "over" else q.under for q in quotes]
        books = [
            {
                "id": BOOK_IDS[q.book],
                "lines": [
                    {
                        "id": (((g.index * 1000 + player.key) * 8 + number) * 40 + BOOK_IDS[q.book])
                        * 2
                        + n,
                        "line": q.line,
                        "cost": cost,
                        "updated": updated,
                        "active": True,
                        "best": cost == max(costs),
                    }
                ],
            }
            for q, cost in zip(quotes, costs, strict=True)
        ]
        selections.append(
            {
                "selection": side,
                "opening_line": {"line": opening_line, "cost": opening_cost if n == 0 else -110},
                "books": books,
            }
        )
    return {
        "id": f"offer-{market.bettingpros_id}-{g.bp_id}-{player.bp_id}",
        "event_id": g.bp_id,
        "participants": [
            {
                "name": player.bp_name,
                "player": {"team": player.club.abbr, "position": player.position[0]},
            }
        ],
        "selections": selections,
    }


def offers(season: Season, g: Game, market: Market) -> list[dict[str, Any]]:
    """The game's offers in a market: one per player with a consensus line, books in
    BettingPros order."""
    by_player: dict[Player, list[Quote]] = {}
    for q in season.quotes(g):
        if q.book in BOOK_IDS and q.market == market.key:
            by_player.setdefault(q.player, []).append(q)
    return [
        offer(g, market, player, sorted(quotes, key=lambda q: BOOK_IDS[q.book]))
        for player, quotes in by_player.items()
    ]


def market_entry(market: Market) -> dict[str, Any]:
    return {"id": market.bettingpros_id, "sport": "NBA", "name": market.label, "category": "player"}


def router(season: Season) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["bettingpros"])
    memo = Memo()

    @api.get("/v3/events", summary="Events of one date")
    def events(sport: str = "NBA", date: dt.date | None = None) -> Response:
        if date in recordings.BP_EVENTS_DATES:
            return json_response(recordings.raw(recordings.BP_EVENTS_DATES[date]))
        if sport != "NBA" or date is None:
            return json_response({"_parameters": {"sport": sport, "date": None}, "events": []})
        return json_response(memo.get(("events", date), lambda: encode(events_body(season, date))))

    @api.get("/v3/offers", summary="One market's player-props offers of the given events, by page")
    def offers_page(
        sport: str = "NBA",
        market_id: int = MARKETS[0].bettingpros_id,
        event_id: Annotated[str, Query(description="event ids joined by ':'")] = "",
        book_id: str = "null",
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> Response:
        ids = [int(part) for part in event_id.split(":") if part.strip().isdigit()]
        market = BY_BETTINGPROS_ID.get(market_id) if sport == "NBA" else None
        items = []
        if market is not None:
            for g in (season.by_bp_id[i] for i in ids if i in season.by_bp_id):
                items += memo.get((g.bp_id, market_id), partial(offers, season, g, market))
        body = {
            "offers": items[(page - 1) * limit : page * limit],
            "markets": [market_entry(market)] if market else [],
            "_pagination": {"page": page, "total_pages": max(1, math.ceil(len(items) / limit))},
        }
        return json_response(body)

    return api
