"""The Odds API v4 as replayed: NBA events and player-props odds, current and historical.

Historical answers are wrapped `{timestamp, previous_timestamp, next_timestamp, data}` with
snapshots every 5 minutes (the last one at or before the requested `date`), current ones are
bare. Prices are american integers or decimal floats (`oddsFormat`, default decimal). The key
is the `apiKey` query parameter; any non-empty value is accepted. Every answer carries the
account's usage quota headers, each request charged what The Odds API charges for it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute

from libs.common.quota import QUOTA_HEADERS, odds_api_cost
from libs.common.sources.props import MARKET_KEYS
from nba_pipeline.replay import recordings
from nba_pipeline.replay.http import json_response, upstream_error
from nba_pipeline.replay.season import ODDS_BOOKS, Game, Quote, Season, decimal

PREFIX = "/oddsapi"
SPORT = "basketball_nba"
MARKET = "player_points"
"""The market of the recorded props body."""
BOOK_TITLES = {
    "draftkings": "DraftKings",
    "fanduel": "FanDuel",
    "betmgm": "BetMGM",
    "williamhill_us": "Caesars",
}
SNAPSHOT_EVERY = dt.timedelta(minutes=5)
SNAPSHOT_SECOND = dt.timedelta(seconds=38)
"""Recorded snapshots sit 38 s past each 5-minute mark."""
LIVE_FOR = dt.timedelta(hours=3)
"""A historical event list still shows games that tipped off less than this long ago."""
LOOKAHEAD = dt.timedelta(days=2)
"""A historical event list without commenceTime filters shows the next two days."""
LINES_POSTED = dt.timedelta(minutes=30)
"""Current odds show the lines as of this long before tip-off, and a later snapshot too."""


class Credits:
    """The replayed account's usage credits. It never refuses a request: at 0 it keeps
    answering, so a long local backfill is not cut short (The Odds API would answer 401)."""

    def __init__(self, credits: int) -> None:
        self.remaining = credits
        self.used = 0
        self._lock = threading.Lock()

    def charge(self, request: Request) -> dict[str, str]:
        """Charge one request; the quota headers to answer it with."""
        query = request.query_params
        cost = odds_api_cost(
            "/historical/" in request.url.path,
            len(_csv(query.get("markets", "h2h"))) if request.url.path.endswith("/odds") else 0,
            len(_csv(query.get("regions", "us"))),
        )
        with self._lock:
            self.remaining = max(0, self.remaining - cost)
            self.used += cost
            counts = (self.remaining, self.used, cost)
        names = QUOTA_HEADERS["oddsapi"]
        return dict(zip((names.remaining, names.used, names.last), map(str, counts), strict=True))


class ChargedRoute(APIRoute):
    """A route whose answers carry the quota headers of `app.state.odds_credits`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def charged(request: Request) -> Response:
            response = await handler(request)
            response.headers.update(request.app.state.odds_credits.charge(request))
            return response

        return charged


def require_key(api_key: Annotated[str | None, Query(alias="apiKey")] = None) -> None:
    """The Odds API answers 401 MISSING_KEY without `apiKey`."""
    if not api_key:
        raise upstream_error(PREFIX, 401, "API key is missing. Add the apiKey query parameter.")


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    """An ISO-8601 query timestamp (`Z` or an offset; naive is UTC), or the Odds API's 422."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise upstream_error(
            PREFIX, 422, f"Invalid {name}, expected ISO 8601", f"INVALID_{name.upper()}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def snapshot(at: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(timestamp, previous, next) of the snapshot a historical request for `at` gets."""
    base = at - SNAPSHOT_SECOND
    stamp = base.replace(minute=base.minute - base.minute % 5, second=0, microsecond=0)
    stamp += SNAPSHOT_SECOND
    return stamp, stamp - SNAPSHOT_EVERY, stamp + SNAPSHOT_EVERY


def wrap(stamp: dt.datetime, data: Any) -> dict[str, Any]:
    now, previous, following = snapshot(stamp)
    return {
        "timestamp": iso(now),
        "previous_timestamp": iso(previous),
        "next_timestamp": iso(following),
        "data": data,
    }


def event(g: Game) -> dict[str, Any]:
    return {
        "id": g.odds_id,
        "sport_key": SPORT,
        "sport_title": "NBA",
        "commence_time": iso(g.start),
        "home_team": g.home.club.odds_name,
        "away_team": g.away.club.odds_name,
    }


def event_odds(
    season: Season, g: Game, markets: set[str], fmt: str, books: set[str], updated: dt.datetime
) -> dict[str, Any]:
    """An event with each bookmaker's Over and Under for every player it quotes in each
    props market asked for, each line as it stood at `updated` (lines move before tip-off).

    A quote's repeats follow it as further Over/Under pairs at the same point, the shape the
    real Odds API answers with when a book lists a line twice.
    """
    bookmakers = []
    stamp = iso(updated)
    for key in (key for key in ODDS_BOOKS if not books or key in books):
        shown = [q.at(updated) for q in season.quotes(g) if q.book == key]
        book_markets = [
            {"key": market, "last_update": stamp, "outcomes": outcomes(shown, market, fmt)}
            for market in MARKET_KEYS
            if market in markets and any(q.market == market for q in shown)
        ]
        if book_markets:
            bookmakers.append(
                {
                    "key": key,
                    "title": BOOK_TITLES[key],
                    "last_update": stamp,
                    "markets": book_markets,
                }
            )
    return {**event(g), "bookmakers": bookmakers}


def outcomes(quotes: list[Quote], market: str, fmt: str) -> list[dict[str, Any]]:
    """One book's Over and Under outcomes of one market, players as the Odds API spells them."""
    return [
        {
            "name": side,
            "description": q.player.odds_name,
            "price": price if fmt == "american" else decimal(price),
            "point": q.line,
        }
        for q in quotes
        if q.market == market
        for over, under in ((q.over, q.under), *q.repeats)
        for side, price in (("Over", over), ("Under", under))
    ]


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


OddsFormat = Annotated[str, Query(alias="oddsFormat", pattern="^(american|decimal)$")]
Markets = Annotated[str, Query(description="comma-separated; the props markets are quoted")]
Bookmakers = Annotated[str | None, Query(description="comma-separated bookmaker keys")]
Regions = Annotated[str, Query(description="accepted and ignored: every book is US")]
From = Annotated[str | None, Query(alias="commenceTimeFrom")]
To = Annotated[str | None, Query(alias="commenceTimeTo")]
Date = Annotated[str | None, Query(description="historical snapshot time, ISO 8601")]


def router(season: Season) -> APIRouter:
    api = APIRouter(
        prefix=PREFIX,
        tags=["oddsapi"],
        dependencies=[Depends(require_key)],
        route_class=ChargedRoute,
    )
    base = f"/v4/sports/{SPORT}"
    historical = f"/v4/historical/sports/{SPORT}"

    def between(start: dt.datetime | None, end: dt.datetime | None) -> list[Game]:
        return [
            g
            for g in season.games
            if (start is None or g.start >= start) and (end is None or g.start <= end)
        ]

    def find(event_id: str) -> Game:
        if event_id not in season.by_odds_id:
            raise upstream_error(PREFIX, 404, "Event not found. The event id may be invalid.")
        return season.by_odds_id[event_id]

    def requested(date: str | None) -> dt.datetime:
        at = parse_time(date, "date")
        if at is None:
            raise upstream_error(PREFIX, 422, "Missing date", "MISSING_HISTORICAL_TIMESTAMP")
        return at

    @api.get(f"{base}/events", summary="NBA events, optionally within a tip-off window")
    def events(start: From = None, end: To = None) -> Response:
        games = between(parse_time(start, "commenceTimeFrom"), parse_time(end, "commenceTimeTo"))
        return json_response([event(g) for g in games])

    @api.get(f"{historical}/events", summary="NBA events as listed at a snapshot")
    def events_his(date: Date = None, start: From = None, end: To = None) -> Response:
        at = requested(date)
        for name in recordings.ODDS_HISTORICAL_EVENTS:
            first, following = recordings.historical_window(name)
            if first <= at < following:
                return json_response(recordings.raw(name))
        low = max(at - LIVE_FOR, parse_time(start, "commenceTimeFrom") or at - LIVE_FOR)
        high = parse_time(end, "commenceTimeTo") or at + LOOKAHEAD
        return json_response(wrap(at, [event(g) for g in between(low, high)]))

    @api.get(f"{base}/events/{{event_id}}/odds", summary="Current odds of one event")
    def odds(
        event_id: str,
        markets: Markets = "h2h",
        regions: Regions = "us",
        fmt: OddsFormat = "decimal",
        bookmakers: Bookmakers = None,
    ) -> Response:
        g = find(event_id)
        body = event_odds(season, g, _csv(markets), fmt, _csv(bookmakers), g.start - LINES_POSTED)
        return json_response(body)

    @api.get(f"{historical}/events/{{event_id}}/odds", summary="Odds of one event at a snapshot")
    def odds_his(
        event_id: str,
        date: Date = None,
        markets: Markets = "h2h",
        regions: Regions = "us",
        fmt: OddsFormat = "decimal",
        bookmakers: Bookmakers = None,
    ) -> Response:
        at = requested(date)
        wanted = _csv(markets)
        if MARKET in wanted and event_id in recordings.ODDS_HISTORICAL_PROPS:
            return json_response(recordings.raw(recordings.ODDS_HISTORICAL_PROPS[event_id]))
        if MARKET not in wanted and event_id in recordings.ODDS_HISTORICAL_GAME_LINES:
            return json_response(recordings.raw(recordings.ODDS_HISTORICAL_GAME_LINES[event_id]))
        g = find(event_id)
        updated = min(snapshot(at)[0], g.start - LINES_POSTED)
        return json_response(
            wrap(at, event_odds(season, g, wanted, fmt, _csv(bookmakers), updated))
        )

    return api
