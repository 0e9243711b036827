"""The Odds API v4: NBA events and player props (every `props.MARKETS` market), current and
historical snapshots.

Historical endpoints wrap the body as `{timestamp, previous_timestamp, next_timestamp, data}`;
current ones return it bare. Both parsers of each pair accept both shapes, so a body can be
re-parsed whichever endpoint produced it. Rows follow the props contract of `props`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from libs.common.clock import EASTERN, eastern_date
from libs.common.messages import GameDate, check_game_date
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
    MARKET_KEYS,
    PropsParse,
    Quote,
    kept_rows,
    pair_sides,
    props_rows,
)
from libs.common.tables.raw import ODDS_API_EVENTS, ODDS_API_PLAYER_POINTS_PROPS

SPORT = "basketball_nba"
MARKET = ",".join(MARKET_KEYS)
"""The `markets` query value: every props market in one request, each billed (quota.py)."""
REGIONS = "us"
"""Bookmaker regions the odds requests ask for; each region is billed (libs/common/quota.py)."""
Parser = Callable[[Any, ParseContext], list[Row]]


def iso_utc(moment: dt.datetime) -> str:
    """`2024-01-25T03:55:40Z`, the timestamp form the Odds API accepts."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- parsing -------------------------------------------------------------------------------


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _unwrap(body: Any, scraper: str, ctx: ParseContext) -> tuple[Any, dt.datetime, str]:
    """(payload, snapshot time, path prefix): historical wrapper or a bare current body.

    A bare event always has `id`; anything else carrying `data` or `timestamp` is a wrapper,
    so a wrapper missing one of them fails naming that field.
    """
    if isinstance(body, dict) and "id" not in body and ("data" in body or "timestamp" in body):
        stamp = parse_timestamp(need(body, "timestamp", scraper), scraper, "timestamp")
        return need(body, "data", scraper), stamp, "data"
    return body, ctx.fetched_at, ""


def _event(event: Any, scraper: str, where: str, game_date: dt.date | None) -> Row:
    """The event columns; game_date is the given one or the tip-off's Eastern date."""
    start = parse_timestamp(
        need(event, "commence_time", scraper, where), scraper, _at(where, "commence_time")
    )
    return {
        "event_id": need(event, "id", scraper, where),
        "game_date": game_date or eastern_date(start),
        "commence_time": start,
        "home_team": need(event, "home_team", scraper, where),
        "away_team": need(event, "away_team", scraper, where),
    }


def events_parser(scraper: str) -> Parser:
    """Events list to one row per event, each dated by its own tip-off.

    A snapshot list can span two Eastern days, so a row's date comes from its event,
    not from the run's params.
    """

    def parse(body: Any, ctx: ParseContext) -> list[Row]:
        events, snapshot, where = _unwrap(body, scraper, ctx)
        if not isinstance(events, list):
            raise ParseError(
                scraper, where or "<body>", f"expected a list, got {type(events).__name__}"
            )
        rows = []
        for i, event in enumerate(events):
            fields = _event(event, scraper, f"{where}[{i}]", None)
            rows.append(
                {
                    **fields,
                    "sport_key": event.get("sport_key"),
                    "snapshot_at": snapshot,
                    **lineage(ctx),
                }
            )
        return rows

    return parse


def _quotes(event: Any, scraper: str, where: str) -> Iterable[Quote]:
    """Every outcome of every bookmaker in a props market; other markets are not this table's."""
    for i, book in enumerate(need_list(event, "bookmakers", scraper, where)):
        at_book = f"{_at(where, 'bookmakers')}[{i}]"
        bookmaker = need(book, "key", scraper, at_book)
        for j, market in enumerate(need_list(book, "markets", scraper, at_book)):
            at_market = f"{at_book}.markets[{j}]"
            key = need(market, "key", scraper, at_market)
            if key not in MARKET_KEYS:
                continue
            for k, outcome in enumerate(need_list(market, "outcomes", scraper, at_market)):
                path = f"{at_market}.outcomes[{k}]"
                yield Quote(
                    bookmaker,
                    key,
                    need(outcome, "description", scraper, path),
                    need(outcome, "point", scraper, path),
                    str(need(outcome, "name", scraper, path)).lower(),
                    need(outcome, "price", scraper, path),
                    path,
                )


def parse_event_odds(scraper: str, body: Any, ctx: ParseContext) -> PropsParse:
    """Event odds to one row per (bookmaker, market, player, line), Over and Under paired.

    The body is one event's odds, or a list of them when the run covered every event of a
    date. `odds_format` follows the price types: all integers is american, any float is
    decimal (the historical endpoint is requested without oddsFormat, so it answers in decimal).
    """
    rows: list[Row] = []
    dropped: Counter[str] = Counter()
    each = [(f"[{i}]", e) for i, e in enumerate(body)] if isinstance(body, list) else [("", body)]
    for prefix, one in each:
        event, snapshot, where = _unwrap(one, scraper, ctx)
        where = _at(prefix, where) if where else prefix
        fields = _event(event, scraper, where, ctx.game_date)
        paired = pair_sides(_quotes(event, scraper, where), scraper)
        decimal = any(isinstance(p, float) for s in paired.sides.values() for p in s.values())
        per_body = {
            **fields,
            "odds_format": "decimal" if decimal else "american",
            "snapshot_at": snapshot,
        }
        rows += props_rows(paired.sides, per_body, ctx)
        dropped += paired.dropped
    return PropsParse(rows, dropped)


def props_parser(scraper: str) -> Parser:
    """`parse_event_odds` as a `Source.parse`: the rows, with dropped listings logged."""

    def parse(body: Any, ctx: ParseContext) -> list[Row]:
        return kept_rows(scraper, parse_event_odds(scraper, body, ctx), ctx)

    return parse


# --- params and requests -------------------------------------------------------------------

EventId = Annotated[
    str,
    Field(pattern=r"^[0-9a-f]{32}$", description="Odds API event id, from oddsa_events"),
]


HISTORY_FROM = dt.date(2020, 6, 6)
"""The Odds API's first historical snapshot (featured markets and the event list):
https://the-odds-api.com/historical-odds-data/"""
PROPS_HISTORY_FROM = dt.date(2023, 5, 3)
"""Its first historical snapshot of player props (the same page)."""


class OddsEventsHisParams(BaseModel):
    """A historical snapshot of the events of one game date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"date": "2024-01-24", "snapshot": "2024-01-24T21:00:00Z"}]
        },
    )
    history_from: ClassVar[dt.date] = HISTORY_FROM
    date: GameDate = Field(
        description="game date, YYYY-MM-DD (US Eastern calendar day), within the Odds API's "
        f"history: from {HISTORY_FROM} (player props from {PROPS_HISTORY_FROM})"
    )
    snapshot: dt.datetime | None = Field(
        default=None,
        description="snapshot time (naive is UTC), from the first historical snapshot; "
        "default 16:00 US Eastern on `date`",
    )

    @field_validator("date")
    @classmethod
    def _date_in_history(cls, day: dt.date) -> dt.date:
        if day < cls.history_from:
            raise ValueError(cls._before_history(day))
        return day

    @field_validator("snapshot")
    @classmethod
    def _snapshot_in_history(cls, moment: dt.datetime | None) -> dt.datetime | None:
        """UTC, once its own calendar day is a game date: converting a moment near year 1 or
        9999 overflows."""
        if moment is None:
            return None
        check_game_date(moment.date())
        utc = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        if utc.date() < cls.history_from:
            raise ValueError(cls._before_history(utc))
        return utc

    @classmethod
    def _before_history(cls, asked: dt.date) -> str:
        return (
            f"{asked} is before the Odds API's first historical snapshot of these markets, "
            f"{cls.history_from} (https://the-odds-api.com/historical-odds-data/)"
        )

    @model_validator(mode="after")
    def _fill_snapshot(self) -> Self:
        """Resolve the default here, so the stored params name the snapshot actually asked for."""
        if self.snapshot is None:
            self.snapshot = dt.datetime.combine(self.date, dt.time(16), EASTERN).astimezone(dt.UTC)
        return self


EVERY_EVENT = "default: every event of `date` (one events request, then one per event)"


class OddsPropsParams(BaseModel):
    """Current player-props odds of one event, or of every event of the date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"event_id": "242c77a8d5890e18bab91773ad32fcb5", "date": "2025-03-09"}]
        },
    )
    event_id: EventId | None = Field(None, description=f"Odds API event id; {EVERY_EVENT}")
    date: GameDate = Field(description="game date, YYYY-MM-DD (US Eastern calendar day)")


class OddsPropsHisParams(OddsEventsHisParams):
    """Player-props odds of one event (or every event of the date) at a snapshot time."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "242c77a8d5890e18bab91773ad32fcb5",
                    "date": "2025-03-09",
                    "snapshot": "2025-03-09T23:50:00Z",
                }
            ]
        },
    )
    history_from: ClassVar[dt.date] = PROPS_HISTORY_FROM
    event_id: EventId | None = Field(None, description=f"Odds API event id; {EVERY_EVENT}")


def _day_window(day: dt.date) -> dict[str, str]:
    """commenceTime filters covering one US Eastern day, so a run lists only its date's games."""
    start = dt.datetime.combine(day, dt.time(0), EASTERN)
    end = dt.datetime.combine(day, dt.time(23, 59, 59), EASTERN)
    return {"commenceTimeFrom": iso_utc(start), "commenceTimeTo": iso_utc(end)}


def _snapshot(params: OddsEventsHisParams) -> str:
    assert params.snapshot is not None  # filled by the model validator
    return iso_utc(params.snapshot)


async def _fetch_events(fetcher: Fetcher, params: DateParams | OddsPropsParams) -> Any:
    return await fetcher.get_json(f"/v4/sports/{SPORT}/events", _day_window(params.date))


async def _fetch_events_his(fetcher: Fetcher, params: OddsEventsHisParams) -> Any:
    query = {"date": _snapshot(params), **_day_window(params.date)}
    return await fetcher.get_json(f"/v4/historical/sports/{SPORT}/events", query)


def _listed_event_ids(body: Any, scraper: str) -> list[str]:
    """Ids of an events body (bare or historical), for a props run covering a whole date."""
    events = body.get("data") if isinstance(body, dict) else body
    if not isinstance(events, list):
        raise ParseError(scraper, "<events>", f"expected a list, got {type(events).__name__}")
    return [str(need(event, "id", scraper, f"<events>[{i}]")) for i, event in enumerate(events)]


PropsParamsT = TypeVar("PropsParamsT", bound=OddsPropsParams | OddsPropsHisParams)


def _props_fetch(
    scraper: str,
    prefix: str,
    list_events: Callable[[Fetcher, PropsParamsT], Awaitable[Any]],
    query: Callable[[PropsParamsT], dict[str, str]],
) -> Callable[[Fetcher, PropsParamsT], Awaitable[Any]]:
    """One event's odds, or, without `event_id`, a list with the odds of every listed event."""

    async def fetch(fetcher: Fetcher, params: PropsParamsT) -> Any:
        asked = query(params)
        if params.event_id is not None:
            return await fetcher.get_json(f"{prefix}/events/{params.event_id}/odds", asked)
        ids = _listed_event_ids(await list_events(fetcher, params), scraper)
        return await get_json_each(fetcher, [(f"{prefix}/events/{i}/odds", asked) for i in ids])

    return fetch


_fetch_props: Callable[[Fetcher, OddsPropsParams], Awaitable[Any]] = _props_fetch(
    "oddsa_player_props",
    f"/v4/sports/{SPORT}",
    _fetch_events,
    lambda _: {"markets": MARKET, "regions": REGIONS, "oddsFormat": "american"},
)
_fetch_props_his: Callable[[Fetcher, OddsPropsHisParams], Awaitable[Any]] = _props_fetch(
    "oddsa_player_props_his",
    f"/v4/historical/sports/{SPORT}",
    _fetch_events_his,
    lambda params: {"date": _snapshot(params), "markets": MARKET, "regions": REGIONS},
)


SOURCES = (
    Source("oddsa_events", "oddsapi", "odds-api/events", ODDS_API_EVENTS, DateParams,
           _fetch_events, events_parser("oddsa_events"), "NBA events tipping off on a date.",
           live_only=True, historical="oddsa_events_his"),
    Source("oddsa_events_his", "oddsapi", "odds-api/events-history", ODDS_API_EVENTS,
           OddsEventsHisParams, _fetch_events_his, events_parser("oddsa_events_his"),
           "NBA events on a date, as listed at a historical snapshot."),
    Source("oddsa_player_props", "oddsapi", "odds-api/player-props", ODDS_API_PLAYER_POINTS_PROPS,
           OddsPropsParams, _fetch_props, props_parser("oddsa_player_props"),
           "Current player-props over/under prices of one event, american odds.",
           live_only=True, historical="oddsa_player_props_his"),
    Source("oddsa_player_props_his", "oddsapi", "odds-api/player-props-history",
           ODDS_API_PLAYER_POINTS_PROPS, OddsPropsHisParams, _fetch_props_his,
           props_parser("oddsa_player_props_his"),
           "Player-props over/under prices of one event at a historical snapshot."),
)  # fmt: skip
