"""NBA.com sources: schedule and team-page recordings, date filtering, bad bodies, requests."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import gzip
import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.sources.base import ParseContext, ParseError
from libs.common.sources.nbacom import NbacRosterParams
from libs.common.sources.params import OptionalDateParams
from libs.common.sources.registry import get_source
from libs.common.tables.raw import NBAC_SCHEDULE, NBAC_TEAM_ROSTER
from libs.common.warehouse.schema import LINEAGE_COLUMNS
from tests.conftest import RECORDINGS
from tests.utils.fetchers import FakeFetcher

NBACOM = RECORDINGS / "nbacom"
SCHEDULE_FILE = NBACOM / "nbac_schedule_cdn_raw.json"
PAGE_FILE = NBACOM / "nbac_roster_page_raw.html.gz"
FETCHED = dt.datetime(2025, 7, 17, 3, 30, tzinfo=dt.UTC)  # still 2025-07-16 in New York
SCHEDULE = get_source("nbac_schedule")
ROSTER = get_source("nbac_roster")
TEAM = "__NEXT_DATA__.props.pageProps.team"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def ctx(game_date: dt.date | None = None) -> ParseContext:
    return ParseContext("run-1", "gs://nba-scraped-data/nba-com/x.json", game_date, FETCHED, {})


def all_games(body: Any) -> list[dict[str, Any]]:
    return [game for day in body["leagueSchedule"]["gameDates"] for game in day["games"]]


def broken_schedule(change: Callable[[Any], Any]) -> Any:
    body = load(SCHEDULE_FILE)
    change(body)
    return body


def test_sources_and_tables() -> None:
    assert (SCHEDULE.name, ROSTER.name) == ("nbac_schedule", "nbac_roster")
    assert (SCHEDULE.upstream, ROSTER.upstream) == ("nbacom_cdn", "nbacom_web")
    assert (SCHEDULE.body_format, ROSTER.body_format) == ("json", "html")
    assert (SCHEDULE.params_model, ROSTER.params_model) == (OptionalDateParams, NbacRosterParams)
    assert SCHEDULE.table.fqn == "nba_raw.nbac_schedule"
    assert ROSTER.table.fqn == "nba_raw.nbac_team_roster"
    assert NBAC_SCHEDULE.natural_key == ("game_id",)
    assert NBAC_TEAM_ROSTER.natural_key == ("team_id", "player_id", "source_file")


# --- schedule --------------------------------------------------------------------------------


def test_schedule_whole_season() -> None:
    body = load(SCHEDULE_FILE)
    games = all_games(body)
    rows = SCHEDULE.parse(body, ctx())
    assert len(rows) == len(games) == 13
    for row, game in zip(rows, games, strict=True):
        assert tuple(row) == NBAC_SCHEDULE.column_names
        assert (row["game_id"], row["game_code"]) == (game["gameId"], game["gameCode"])
        assert row["game_date"] == dt.date.fromisoformat(game["gameDateEst"][:10])
        assert row["home_team_tricode"] == game["homeTeam"]["teamTricode"]
        assert row["away_team_id"] == game["awayTeam"]["teamId"]
        assert row["season_year"] == "2025-26"
        assert type(row["game_date"]) is dt.date and type(row["start_time_utc"]) is dt.datetime
        assert type(row["home_team_id"]) is int and type(row["game_status"]) is int
    by_id = {row["game_id"]: row for row in rows}
    lal = by_id["0012500001"]
    assert (lal["game_code"], lal["game_status"], lal["game_status_text"]) == (
        "20251003/PHXLAL",
        1,
        "10:00 pm ET",
    )
    # a 10 pm ET tip-off is the next day in UTC; game_date stays the Eastern day
    assert lal["game_date"] == dt.date(2025, 10, 3)
    assert lal["start_time_utc"] == dt.datetime(2025, 10, 4, 2, tzinfo=dt.UTC)
    assert (lal["home_team_id"], lal["home_team_tricode"], lal["home_team_name"], lal["home_team_city"]) == (
        1610612747, "LAL", "Lakers", "Los Angeles",
    )  # fmt: skip
    assert (lal["away_team_id"], lal["away_team_tricode"]) == (1610612756, "PHX")
    assert (lal["home_team_score"], lal["away_team_score"], lal["week_number"]) == (0, 0, 0)
    assert (lal["arena_name"], lal["arena_city"]) == ("Acrisure Arena", "Palm Desert")
    melbourne = by_id["0012500009"]["away_team_id"]
    assert melbourne == 15016  # non-NBA opponents keep their own ids


def test_schedule_for_one_date_keeps_only_its_games() -> None:
    body = load(SCHEDULE_FILE)
    day = dt.date(2025, 10, 3)
    expected = [g["gameId"] for g in all_games(body) if g["gameDateEst"].startswith("2025-10-03")]
    rows = SCHEDULE.parse(body, ctx(day))
    assert [row["game_id"] for row in rows] == expected == ["0012500001", "0012500009"]
    assert {row["game_date"] for row in rows} == {day}


def test_schedule_no_games() -> None:
    assert SCHEDULE.parse(load(SCHEDULE_FILE), ctx(dt.date(2025, 10, 7))) == []
    assert (
        SCHEDULE.parse({"leagueSchedule": {"seasonYear": "2025-26", "gameDates": []}}, ctx()) == []
    )


GAME = "leagueSchedule.gameDates[1].games[0]"


def drop(key: str) -> Callable[[Any], Any]:
    return lambda b: b["leagueSchedule"]["gameDates"][1]["games"][0].pop(key)


def put(**values: Any) -> Callable[[Any], Any]:
    return lambda b: b["leagueSchedule"]["gameDates"][1]["games"][0].update(values)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meta": {}}, "leagueSchedule"),
        ([], "<body>"),
        ("truncated {", "<body>"),
        ({"leagueSchedule": {"games": []}}, "leagueSchedule.gameDates"),
        ({"leagueSchedule": {"gameDates": [{"games": None}]}}, "leagueSchedule.gameDates[0].games"),
        (broken_schedule(drop("gameDateEst")), f"{GAME}.gameDateEst"),
        (broken_schedule(put(gameDateEst="Oct 3")), f"{GAME}.gameDateEst"),
        (broken_schedule(drop("gameId")), f"{GAME}.gameId"),
        (broken_schedule(drop("gameDateTimeUTC")), f"{GAME}.gameDateTimeUTC"),
        (broken_schedule(put(gameDateTimeUTC="TBD")), f"{GAME}.gameDateTimeUTC"),
        (broken_schedule(drop("awayTeam")), f"{GAME}.awayTeam"),
        (broken_schedule(put(homeTeam={"teamId": "LAL", "teamTricode": "LAL"})), f"{GAME}.homeTeam.teamId"),
        (broken_schedule(put(homeTeam={"teamId": 1610612747})), f"{GAME}.homeTeam.teamTricode"),
        (broken_schedule(put(gameStatus="final")), f"{GAME}.gameStatus"),
    ],
)  # fmt: skip
def test_schedule_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        SCHEDULE.parse(body, ctx())
    assert (caught.value.scraper_name, caught.value.field) == ("nbac_schedule", field)
    assert str(caught.value).startswith(f"nbac_schedule: field '{field}'")


# --- team page roster ------------------------------------------------------------------------


class NextDataReader(HTMLParser):
    """The `__NEXT_DATA__` script body, read with html.parser (independently of the parser)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "script" and ("id", "__NEXT_DATA__") in attrs

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        self.inside = False


PAGE = gzip.decompress(PAGE_FILE.read_bytes()).decode()


def page_data() -> Any:
    reader = NextDataReader()
    reader.feed(PAGE)
    return json.loads(reader.text)


def with_data(data: Any) -> str:
    """The recorded page with its `__NEXT_DATA__` replaced by `data` (JSON, or raw text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = PAGE.index(">", PAGE.index('<script id="__NEXT_DATA__"')) + 1
    return PAGE[:head] + text + PAGE[PAGE.index("</script>", head) :]


def broken_page(change: Callable[[Any], Any]) -> str:
    data = copy.deepcopy(page_data())
    change(data["props"]["pageProps"]["team"])
    return with_data(data)


def test_roster_page() -> None:
    roster = page_data()["props"]["pageProps"]["team"]["roster"]
    rows = ROSTER.parse(PAGE, ctx(dt.date(2025, 7, 17)))
    assert len(rows) == len(roster) == 18
    for row, player in zip(rows, roster, strict=True):
        assert tuple(row) == NBAC_TEAM_ROSTER.column_names
        assert (row["player_id"], row["player"]) == (player["PLAYER_ID"], player["PLAYER"])
        assert (row["team_id"], row["team_tricode"]) == (1610612744, "GSW")
        assert row["roster_date"] == dt.date(2025, 7, 17)
        assert type(row["birth_date"]) is dt.date and type(row["weight"]) is int
        assert type(row["player_id"]) is int and type(row["age"]) is int
    by_name = {row["player"]: row for row in rows}
    curry = by_name["Stephen Curry"]
    assert {key: curry[key] for key in NBAC_TEAM_ROSTER.column_names[: -len(LINEAGE_COLUMNS)]} == {
        "roster_date": dt.date(2025, 7, 17),
        "team_id": 1610612744,
        "team_tricode": "GSW",
        "season": "2025",
        "player_id": 201939,
        "player": "Stephen Curry",
        "nickname": "Stephen",
        "player_slug": "stephen-curry",
        "num": "30",
        "position": "G",
        "height": "6-2",
        "weight": 185,
        "birth_date": dt.date(1988, 3, 14),
        "age": 37,
        "exp": "16",
        "school": "Davidson",
        "how_acquired": "#7 Pick in 2009 Draft",
    }
    assert (by_name["Will Richard"]["num"], by_name["Will Richard"]["exp"]) == (None, "R")
    assert by_name["Jonathan Kuminga"]["num"] == "00"  # jersey numbers stay text
    assert by_name["Jimmy Butler III"]["birth_date"] == dt.date(1989, 9, 14)


def test_roster_date_defaults_to_the_eastern_day_it_was_fetched() -> None:
    assert {row["roster_date"] for row in ROSTER.parse(PAGE, ctx())} == {dt.date(2025, 7, 16)}


def test_roster_page_with_an_empty_roster() -> None:
    assert ROSTER.parse(broken_page(lambda team: team.update(roster=[])), ctx()) == []
    tiny: dict[str, Any] = {"props": {"pageProps": {"team": {"roster": []}}}}
    html = f'<html><script id="__NEXT_DATA__" type="application/json">{json.dumps(tiny)}</script></html>'
    assert ROSTER.parse(html, ctx()) == []


def test_roster_without_team_info_has_no_tricode() -> None:
    rows = ROSTER.parse(broken_page(lambda team: team.pop("info")), ctx())
    assert len(rows) == 18 and {row["team_tricode"] for row in rows} == {None}


ROW = f"{TEAM}.roster[0]"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<html><body><h1>Team</h1><script>var x = 1;</script></body></html>", "__NEXT_DATA__"),
        (PAGE.replace('id="__NEXT_DATA__"', 'id="app-data"'), "__NEXT_DATA__"),
        (with_data('{"props": {"pageProps": {"team": {"roster": [{"PLAYER_ID": 2019'), "__NEXT_DATA__"),
        (PAGE[: PAGE.index('<script id="__NEXT_DATA__"') + 5000], "__NEXT_DATA__"),
        ({"props": {}}, "<body>"),
        (with_data({"page": "/team/[...props]"}), "__NEXT_DATA__.props"),
        (with_data({"props": {"pageProps": {"layout": {}}}}), TEAM),
        (with_data({"props": {"pageProps": {"team": None}}}), TEAM),
        (broken_page(lambda team: team.pop("roster")), f"{TEAM}.roster"),
        (broken_page(lambda team: team.update(roster={"PLAYER_ID": 1})), f"{TEAM}.roster"),
        (broken_page(lambda team: team["roster"][0].pop("PLAYER_ID")), f"{ROW}.PLAYER_ID"),
        (broken_page(lambda team: team["roster"][0].update(PLAYER_ID=None)), f"{ROW}.PLAYER_ID"),
        (broken_page(lambda team: team["roster"][0].pop("TeamID")), f"{ROW}.TeamID"),
        (broken_page(lambda team: team["roster"][0].pop("PLAYER")), f"{ROW}.PLAYER"),
        (broken_page(lambda team: team["roster"][0].update(WEIGHT="206 lbs")), f"{ROW}.WEIGHT"),
        (broken_page(lambda team: team["roster"][0].update(BIRTH_DATE="2002-12-24")), f"{ROW}.BIRTH_DATE"),
        (broken_page(lambda team: team["roster"].insert(0, "Will Richard")), ROW),
    ],
)  # fmt: skip
def test_roster_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        ROSTER.parse(body, ctx())
    assert (caught.value.scraper_name, caught.value.field) == ("nbac_roster", field)
    assert str(caught.value).startswith(f"nbac_roster: field '{field}'")


# --- requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"date": "2025-10-03"}])
def test_schedule_request(params: dict[str, Any]) -> None:
    body = load(SCHEDULE_FILE)
    fetcher = FakeFetcher(body)
    typed = OptionalDateParams.model_validate(params)
    assert asyncio.run(SCHEDULE.fetch(fetcher, typed)) is body  # stored whole, filtered on parse
    assert fetcher.calls == [("/static/json/staticData/scheduleLeagueV2_1.json", {})]
    expected = dt.date.fromisoformat(params["date"]) if params else None
    assert SCHEDULE.game_date(typed) == expected


def test_roster_request() -> None:
    fetcher = FakeFetcher(PAGE)
    # the orchestrator sends team ids as text
    params = NbacRosterParams.model_validate(
        {"team_id": "1610612744", "slug": "warriors", "date": "2025-07-16"}
    )
    assert asyncio.run(ROSTER.fetch(fetcher, params)) == PAGE
    assert fetcher.calls == [("/team/1610612744/warriors", {})] and fetcher.kinds == ["text"]
    assert ROSTER.game_date(params) == dt.date(2025, 7, 16)


@pytest.mark.parametrize(
    "params",
    [
        {"slug": "warriors"},
        {"team_id": 1610612744},
        {"team_id": 0, "slug": "warriors"},
        {"team_id": 1610612744, "slug": "../warriors"},
        {"team_id": 1610612744, "slug": "Trail Blazers"},
        {"team_id": 1610612744, "slug": "warriors", "season": "2025"},
    ],
)
def test_roster_params_are_validated(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        NbacRosterParams.model_validate(params)


def test_params_examples_validate() -> None:
    for model in (NbacRosterParams, OptionalDateParams):
        for example in model.model_json_schema()["examples"]:
            model.model_validate(example)
    with pytest.raises(ValidationError):
        OptionalDateParams.model_validate({"date": "tomorrow"})
