"""Every registered scraper, fetched from the replay server and parsed by its own parser.

The test walks `SOURCES`, so a scraper registered later is covered as soon as it lands (and
fails until its table's expected count is stated here): its request builder runs against the
replay app in-process, its parser turns the body into rows, and the row count must equal the
season's own number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from libs.common.sources.base import ParseContext, Source
from libs.common.sources.oddsapi import parse_event_odds
from libs.common.sources.registry import SOURCES
from libs.common.tables.raw import PROPS_KEY
from nba_pipeline.replay import recordings
from nba_pipeline.replay.league import BY_ABBR
from nba_pipeline.replay.oddsapi import LINES_POSTED, snapshot
from nba_pipeline.replay.season import REPEATING_BOOK, Game, Quote, Season, decimal
from tests.replay.conftest import DAY, PINNED, ReplayFetcher

TEAM = BY_ABBR["CLE"]
"""A team both ESPN and NBA.com serve from the generated season (not a recording)."""
Expect = Callable[[Season, dt.date, Any], int]
"""Rows one scrape loads, from the season, the date and the run's params."""


def _by_date(table: str) -> Expect:
    return lambda season, day, params: season.expected_rows(day, day)[table]


DATED_TABLES = (
    "nba_raw.bdl_games", "nba_raw.bdl_player_boxscores", "nba_raw.odds_api_events",
    "nba_raw.bettingpros_events", "nba_raw.bettingpros_player_points_props",
    "nba_raw.espn_scoreboard", "nba_raw.nbac_schedule",
)  # fmt: skip
"""Tables whose rows for one date's scrape `Season.expected_rows` states."""
EXPECTED: dict[str, Expect] = {
    **{table: _by_date(table) for table in DATED_TABLES},
    "nba_raw.bdl_players": lambda season, day, params: len(season.players),
    # the replay serves the recorded report whatever the day
    "nba_raw.bdl_player_injuries": lambda season, day, params: len(
        recordings.parsed(recordings.BDL_INJURIES)["data"]
    ),
    "nba_raw.odds_api_player_points_props": lambda season, day, params: season.odds_props_rows(
        season.by_odds_id[params.event_id]
    ),
    "nba_raw.espn_team_rosters": lambda season, day, params: len(season.roster(TEAM)),
    "nba_raw.nbac_team_roster": lambda season, day, params: len(season.roster(TEAM)),
}  # fmt: skip


def params_for(source: Source, season: Season, day: dt.date) -> BaseModel:
    """The run's params, built from the fields its model declares."""
    fields = source.params_model.model_fields
    values: dict[str, Any] = {}
    if "date" in fields:
        values["date"] = day
    if "event_id" in fields:
        values["event_id"] = season.games_on(day)[0].odds_id
    if "team_id" in fields:
        values["team_id"] = str(TEAM.espn_id if source.upstream == "espn" else TEAM.nba_id)
    if "slug" in fields:
        values["slug"] = TEAM.slug
    return source.params_model.model_validate(values)


async def fetch(app: FastAPI, source: Source, params: BaseModel) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replay") as client:
        return await source.fetch(ReplayFetcher(client, source.upstream), params)


def parse_context(name: str, day: dt.date, params: BaseModel) -> ParseContext:
    """What the processor would pass: lineage of a replayed run of `name` for `day`."""
    return ParseContext(
        execution_id="replay-test",
        source_file=f"replay://{name}/{day}",
        game_date=getattr(params, "date", None),
        fetched_at=dt.datetime.now(dt.UTC),
        params=params.model_dump(mode="json"),
    )


@pytest.mark.parametrize("day", [DAY, PINNED])
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_generated_body_parses_into_the_seasons_rows(
    app: FastAPI, season: Season, name: str, day: dt.date
) -> None:
    source = SOURCES[name]
    assert source.table.fqn in EXPECTED, f"add the expected row count of {source.table.fqn}"
    params = params_for(source, season, day)
    body = asyncio.run(fetch(app, source, params))
    rows = source.parse(body, parse_context(name, day, params))
    assert rows, f"{name}: no rows"
    assert all(set(row) == set(source.table.column_names) for row in rows)
    assert len(rows) == EXPECTED[source.table.fqn](season, day, params)


@pytest.mark.parametrize("name", ["oddsa_player_props", "oddsa_player_props_his"])
def test_a_day_with_repeated_listings_loads_one_row_per_key(
    app: FastAPI, season: Season, name: str
) -> None:
    """williamhill_us lists some lines twice (issue 14): the whole date still parses, to the
    season's rows in every market, each at its main listing's prices as they stood when the
    snapshot was taken (lines move before tip-off; current odds show them half an hour
    before)."""
    games = season.games_on(DAY)
    repeats = sum(season.repeated_listings(g) for g in games)
    assert repeats, f"pick a day on which {REPEATING_BOOK} repeats a line"
    source = SOURCES[name]
    params = source.params_model.model_validate({"date": DAY})
    body = asyncio.run(fetch(app, source, params))
    sides = Counter(
        (book["key"], market["key"], o["description"], o["point"], o["name"])
        for event in body
        for book in event.get("data", event)["bookmakers"]
        for market in book["markets"]
        for o in market["outcomes"]
    )
    assert {key[0] for key, n in sides.items() if n > 1} == {REPEATING_BOOK}
    parsed = parse_event_odds(name, body, parse_context(name, DAY, params))
    assert len(parsed.rows) == sum(season.odds_props_rows(g) for g in games)
    assert parsed.dropped == {REPEATING_BOOK: repeats}
    keys = Counter(tuple(row[column] for column in PROPS_KEY) for row in parsed.rows)
    assert set(keys.values()) == {1}
    price = (lambda p: p) if name == "oddsa_player_props" else decimal
    asked = getattr(params, "snapshot", None)

    def shown(g: Game, q: Quote) -> Quote:
        posted = g.start - LINES_POSTED
        return q.at(min(snapshot(asked)[0], posted) if asked else posted)

    main = {
        (g.odds_id, q.book, q.market, q.player.odds_name, q.line): (price(q.over), price(q.under))
        for g in games
        for q in (shown(g, q) for q in season.quotes(g))
        if q.book != "consensus"
    }
    assert {
        (r["event_id"], r["bookmaker"], r["market"], r["player_name"], r["line"]): (
            r["over_price"], r["under_price"],
        )
        for r in parsed.rows
    } == main  # fmt: skip
