"""balldontlie sources: games, box scores, players and injuries recordings, empty days, bad
bodies, requests."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.sources.balldontlie import MAX_PAGES, SOURCES, InjuryParams
from libs.common.sources.base import ParseContext, ParseError, Source
from libs.common.sources.params import DateParams, NoParams
from libs.common.sources.registry import get_source
from libs.common.tables.raw import (
    BDL_GAMES,
    BDL_PLAYER_BOXSCORES,
    BDL_PLAYER_INJURIES,
    BDL_PLAYERS,
    STAT_COLUMNS,
)
from tests.conftest import RECORDINGS
from tests.utils.fetchers import FakeFetcher

BDL = RECORDINGS / "balldontlie"
GAMES_FILE = BDL / "bdl_games_v1_raw_2025-02-20.json"
BOX_FILE = BDL / "bdl_box_scores_v1_raw.json"
EMPTY_BOX_FILE = BDL / "bdl_box_scores_v1_raw_empty.json"
PLAYERS_FILE = BDL / "bdl_players_v1_raw.json"
INJURIES_FILE = BDL / "bdl_player_injuries_v1_raw.json"
FETCHED = dt.datetime(2025, 2, 21, 9, 0, tzinfo=dt.UTC)
GAMES = get_source("bdl_games")
BOX_SCORES = get_source("bdl_box_scores")
PLAYERS = get_source("bdl_players")
INJURIES = get_source("bdl_player_injuries")


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def ctx(game_date: dt.date | None = None) -> ParseContext:
    return ParseContext(
        "run-1", "gs://nba-scraped-data/ball-dont-lie/x.json", game_date, FETCHED, {}
    )


def broken(path: Path, change: Callable[[Any], Any]) -> Any:
    body = copy.deepcopy(load(path))
    change(body)
    return body


def box_lines(body: Any) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]]:
    """(game, team, line, is_home) for every player line of a box-score body, in file order."""
    return [
        (game, game[side], line, side == "home_team")
        for game in body["data"]
        for side in ("home_team", "visitor_team")
        for line in game[side]["players"]
    ]


def test_sources_and_tables() -> None:
    assert (GAMES.name, BOX_SCORES.name, PLAYERS.name) == (
        "bdl_games",
        "bdl_box_scores",
        "bdl_players",
    )
    assert {s.upstream for s in SOURCES} == {"balldontlie"}
    assert (GAMES.params_model, BOX_SCORES.params_model, PLAYERS.params_model) == (
        DateParams, DateParams, NoParams,
    )  # fmt: skip
    assert (GAMES.table, BOX_SCORES.table, PLAYERS.table) == (
        BDL_GAMES,
        BDL_PLAYER_BOXSCORES,
        BDL_PLAYERS,
    )
    assert BDL_GAMES.natural_key == ("game_id",)
    assert BDL_PLAYER_BOXSCORES.natural_key == ("game_date", "team_abbr", "player_id")
    assert BDL_PLAYERS.natural_key == ("player_id",)


# --- games -----------------------------------------------------------------------------------


def test_games_recording() -> None:
    body = load(GAMES_FILE)
    rows = GAMES.parse(body, ctx(dt.date(2025, 2, 20)))
    assert len(rows) == len(body["data"]) == 9
    for row, game in zip(rows, body["data"], strict=True):
        assert tuple(row) == BDL_GAMES.column_names
        assert row["game_id"] == game["id"] and type(row["game_id"]) is int
        assert row["game_date"] == dt.date.fromisoformat(game["date"])
        assert row["start_time"] == dt.datetime.fromisoformat(
            game["datetime"].replace("Z", "+00:00")
        )
        for side in ("home_team", "visitor_team"):
            prefix = side.removesuffix("_team")
            assert row[f"{prefix}_team_id"] == game[side]["id"]
            assert row[f"{prefix}_team_abbr"] == game[side]["abbreviation"]
            assert row[f"{prefix}_team_name"] == game[side]["full_name"]
            assert row[f"{prefix}_team_score"] == game[f"{side}_score"]
            assert type(row[f"{prefix}_team_score"]) is int
        assert (row["season"], row["status"], row["period"], row["postseason"]) == (
            game["season"], game["status"], game["period"], game["postseason"],
        )  # fmt: skip
        assert type(row["game_date"]) is dt.date and type(row["start_time"]) is dt.datetime
    first = rows[0]
    assert (first["game_id"], first["home_team_abbr"], first["visitor_team_abbr"]) == (
        15908525,
        "DEN",
        "CHA",
    )
    assert (first["home_team_score"], first["visitor_team_score"], first["status"]) == (
        129,
        115,
        "Final",
    )
    assert first["start_time"] == dt.datetime(2025, 2, 21, 2, 0, tzinfo=dt.UTC)
    assert (first["execution_id"], first["source_file"]) == (
        "run-1",
        "gs://nba-scraped-data/ball-dont-lie/x.json",
    )


def test_games_on_a_date_without_games() -> None:
    assert GAMES.parse({"data": [], "meta": {"per_page": 100}}, ctx(dt.date(2025, 2, 14))) == []


def test_scheduled_game_keeps_scores_and_tip_off_null() -> None:
    body = broken(GAMES_FILE, lambda b: b["data"][0].update(
        status="7:00 pm ET", datetime=None, home_team_score=None, visitor_team_score=None))  # fmt: skip
    row = GAMES.parse(body, ctx())[0]
    assert (row["status"], row["start_time"], row["home_team_score"], row["visitor_team_score"]) == (
        "7:00 pm ET", None, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meta": {}}, "data"),
        ({"data": {"id": 1}}, "data"),
        ([], "<body>"),
        ("truncated {", "<body>"),
        (broken(GAMES_FILE, lambda b: b["data"][0].pop("id")), "data[0].id"),
        (broken(GAMES_FILE, lambda b: b["data"][1].update(id="15908519x")), "data[1].id"),
        (broken(GAMES_FILE, lambda b: b["data"][0].pop("date")), "data[0].date"),
        (broken(GAMES_FILE, lambda b: b["data"][0].update(date="Feb 20")), "data[0].date"),
        (broken(GAMES_FILE, lambda b: b["data"][0].update(datetime="tonight")), "data[0].datetime"),
        (broken(GAMES_FILE, lambda b: b["data"][2].pop("home_team")), "data[2].home_team"),
        (broken(GAMES_FILE, lambda b: b["data"][0]["visitor_team"].pop("abbreviation")), "data[0].visitor_team.abbreviation"),
        (broken(GAMES_FILE, lambda b: b["data"][0].update(home_team_score="129-115")), "data[0].home_team_score"),
    ],
)  # fmt: skip
def test_games_malformed(body: Any, field: str) -> None:
    assert_parse_error(GAMES, body, field)


def assert_parse_error(source: Source, body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        source.parse(body, ctx())
    assert (caught.value.scraper_name, caught.value.field) == (source.name, field)
    assert str(caught.value).startswith(f"{source.name}: field '{field}'")


# --- box scores ------------------------------------------------------------------------------


def test_box_scores_recording() -> None:
    body = load(BOX_FILE)
    lines = box_lines(body)
    rows = BOX_SCORES.parse(body, ctx(dt.date(2024, 1, 15)))
    assert len(rows) == len(lines) == 384
    for row, (game, team, line, is_home) in zip(rows, lines, strict=True):
        opponent = game["visitor_team" if is_home else "home_team"]
        player = line["player"]
        assert tuple(row) == BDL_PLAYER_BOXSCORES.column_names
        assert row["game_date"] == dt.date.fromisoformat(game["date"]) == dt.date(2024, 1, 15)
        assert (row["season"], row["game_status"]) == (game["season"], game["status"])
        assert (row["team_abbr"], row["opponent_abbr"], row["is_home"]) == (
            team["abbreviation"], opponent["abbreviation"], is_home,
        )  # fmt: skip
        assert row["player_id"] == player["id"] and type(row["player_id"]) is int
        assert row["player_name"] == f"{player['first_name']} {player['last_name']}"
        assert row["position"] == player["position"]
        assert row["minutes"] == float(line["min"]) and type(row["minutes"]) is float
        assert {stat: row[stat] for stat in STAT_COLUMNS} == {
            stat: line[stat] for stat in STAT_COLUMNS
        }
        assert all(type(row[stat]) is int for stat in STAT_COLUMNS)
    first = rows[0]
    assert (first["player_name"], first["team_abbr"], first["opponent_abbr"], first["minutes"]) == (
        "Nicolas Batum", "PHI", "HOU", 28.0,
    )  # fmt: skip
    for game in body["data"]:
        for side in ("home_team", "visitor_team"):
            scored = sum(r["pts"] for r in rows if r["team_abbr"] == game[side]["abbreviation"])
            assert scored == game[f"{side}_score"], "a team's player points sum to its score"


def test_box_scores_empty_recording_is_no_data() -> None:
    body = load(EMPTY_BOX_FILE)
    assert body == {"data": []}
    assert BOX_SCORES.parse(body, ctx(dt.date(2024, 8, 1))) == []


def test_box_scores_game_without_players_has_no_rows() -> None:
    body = broken(
        BOX_FILE,
        lambda b: [b["data"][0][side].update(players=[]) for side in ("home_team", "visitor_team")],
    )
    assert len(BOX_SCORES.parse(body, ctx())) == len(box_lines(body)) == 384 - 36


@pytest.mark.parametrize(
    ("minutes", "parsed"), [("28:30", 28.5), ("00", 0.0), ("", None), (None, None), (34, 34.0)]
)
def test_box_score_minutes(minutes: Any, parsed: float | None) -> None:
    body = broken(BOX_FILE, lambda b: b["data"][0]["home_team"]["players"][0].update(min=minutes))
    assert BOX_SCORES.parse(body, ctx())[0]["minutes"] == parsed


PLAYER_LINE = "data[0].home_team.players[0]"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "data"),
        ({"data": "none"}, "data"),
        ("truncated {", "<body>"),
        (broken(BOX_FILE, lambda b: b["data"][0].pop("date")), "data[0].date"),
        (broken(BOX_FILE, lambda b: b["data"][3].pop("visitor_team")), "data[3].visitor_team"),
        (broken(BOX_FILE, lambda b: b["data"][0]["home_team"].pop("players")), "data[0].home_team.players"),
        (broken(BOX_FILE, lambda b: b["data"][0]["visitor_team"].pop("abbreviation")), "data[0].visitor_team.abbreviation"),
        (broken(BOX_FILE, lambda b: b["data"][0]["home_team"]["players"][0].pop("player")), f"{PLAYER_LINE}.player"),
        (broken(BOX_FILE, lambda b: b["data"][0]["home_team"]["players"][0]["player"].pop("id")), f"{PLAYER_LINE}.player.id"),
        (broken(BOX_FILE, lambda b: b["data"][0]["home_team"]["players"][0].update(min="28m")), f"{PLAYER_LINE}.min"),
        (broken(BOX_FILE, lambda b: b["data"][0]["home_team"]["players"][0].update(pts="5 pts")), f"{PLAYER_LINE}.pts"),
        (broken(BOX_FILE, lambda b: b["data"][0]["home_team"]["players"][0].update(reb=5.5)), f"{PLAYER_LINE}.reb"),
    ],
)  # fmt: skip
def test_box_scores_malformed(body: Any, field: str) -> None:
    assert_parse_error(BOX_SCORES, body, field)


# --- players ---------------------------------------------------------------------------------


def test_players_recording() -> None:
    body = load(PLAYERS_FILE)
    rows = PLAYERS.parse(body, ctx())
    assert len(rows) == len(body["data"]) == 49
    for row, player in zip(rows, body["data"], strict=True):
        assert tuple(row) == BDL_PLAYERS.column_names
        assert row["player_id"] == player["id"] and type(row["player_id"]) is int
        for key in ("first_name", "last_name", "position", "height", "weight", "jersey_number",
                    "college", "country", "draft_year", "draft_round", "draft_number"):  # fmt: skip
            assert row[key] == player[key]
        assert (row["team_id"], row["team_abbr"]) == (
            player["team"]["id"],
            player["team"]["abbreviation"],
        )
        assert all(
            type(row[k]) in (int, type(None)) for k in ("draft_year", "draft_round", "draft_number")
        )
    first = rows[0]
    assert (first["player_id"], first["first_name"], first["last_name"], first["team_abbr"]) == (
        146, "James", "Ennis III", "DEN",
    )  # fmt: skip
    undrafted = [row for row in rows if row["draft_year"] is None]
    assert undrafted and all(row["draft_round"] is None for row in undrafted)


def test_players_free_agent_and_empty_page() -> None:
    body = broken(PLAYERS_FILE, lambda b: b["data"][0].update(team=None))
    assert (
        PLAYERS.parse(body, ctx())[0]["team_id"],
        PLAYERS.parse(body, ctx())[0]["team_abbr"],
    ) == (None, None)
    assert PLAYERS.parse({"data": [], "meta": {}}, ctx()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meta": {"next_cursor": 5}}, "data"),
        ("truncated {", "<body>"),
        (broken(PLAYERS_FILE, lambda b: b["data"][4].pop("id")), "data[4].id"),
        (
            broken(PLAYERS_FILE, lambda b: b["data"][0].update(draft_year="2013a")),
            "data[0].draft_year",
        ),
    ],
)
def test_players_malformed(body: Any, field: str) -> None:
    assert_parse_error(PLAYERS, body, field)


# --- injuries --------------------------------------------------------------------------------


def test_injuries_recording() -> None:
    """One row per listed player, filed under the run's date; the report is the present, so a
    past date is never re-run for it (live only, no historical twin)."""
    body = load(INJURIES_FILE)
    rows = INJURIES.parse(body, ctx(dt.date(2025, 2, 20)))
    assert [tuple(row) for row in rows] == [BDL_PLAYER_INJURIES.column_names] * 2
    tatum = rows[1]
    assert {key: tatum[key] for key in BDL_PLAYER_INJURIES.column_names[:9]} == {
        "report_date": dt.date(2025, 2, 20),
        "player_id": 434,
        "first_name": "Jayson",
        "last_name": "Tatum",
        "position": "F",
        "team_id": 2,
        "status": "Out",
        "return_date": "Feb 1",
        "description": body["data"][1]["description"],
    }
    assert [row["player_id"] for row in rows] == [70, 434]
    assert BDL_PLAYER_INJURIES.natural_key == ("player_id", "source_file")
    assert INJURIES.live_only and INJURIES.historical is None


def test_injuries_without_a_date_are_filed_under_the_eastern_day_fetched() -> None:
    rows = INJURIES.parse(load(INJURIES_FILE), ctx())
    assert {row["report_date"] for row in rows} == {dt.date(2025, 2, 21)}  # 04:00 ET
    assert INJURIES.parse({"data": [], "meta": {"per_page": 100}}, ctx()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meta": {}}, "data"),
        (broken(INJURIES_FILE, lambda b: b["data"][1].pop("player")), "data[1].player"),
        (broken(INJURIES_FILE, lambda b: b["data"][0]["player"].pop("id")), "data[0].player.id"),
        (
            broken(INJURIES_FILE, lambda b: b["data"][0]["player"].update(team_id="BOS")),
            "data[0].player.team_id",
        ),
    ],
)
def test_injuries_malformed(body: Any, field: str) -> None:
    assert_parse_error(INJURIES, body, field)


# --- requests --------------------------------------------------------------------------------


def cursor_pages(pages: list[list[Any]]) -> Callable[[str, dict[str, Any]], Any]:
    """Page n (cursor n-1, the first without one) with `next_cursor` n while pages remain."""

    def answer(path: str, params: dict[str, Any]) -> Any:
        index = int(params.get("cursor", 0))
        meta: dict[str, Any] = {"per_page": params["per_page"]}
        if index + 1 < len(pages):
            meta["next_cursor"] = index + 1
        return {"data": pages[index], "meta": meta}

    return answer


def run(source: Source, fetcher: FakeFetcher, params: dict[str, Any]) -> Any:
    return asyncio.run(source.fetch(fetcher, source.params_model.model_validate(params)))


def test_games_request_for_one_date() -> None:
    body = load(GAMES_FILE)
    fetcher = FakeFetcher(lambda path, query: body)
    merged = run(GAMES, fetcher, {"date": "2025-02-20"})
    assert fetcher.calls == [("/v1/games", {"dates[]": "2025-02-20", "per_page": 100})]
    assert merged["data"] == body["data"] and merged["meta"]["pages"] == 1
    assert GAMES.game_date(GAMES.params_model.model_validate({"date": "2025-02-20"})) == dt.date(
        2025, 2, 20
    )


def test_box_scores_request_for_one_date() -> None:
    body = load(BOX_FILE)
    fetcher = FakeFetcher(lambda path, query: body)
    assert run(BOX_SCORES, fetcher, {"date": "2024-01-15"}) is body
    assert fetcher.calls == [("/v1/box_scores", {"date": "2024-01-15"})]


def test_players_follow_the_cursor_and_merge_every_page() -> None:
    recorded = load(PLAYERS_FILE)["data"]
    pages = [recorded[:20], recorded[20:40], recorded[40:]]
    fetcher = FakeFetcher(cursor_pages(pages))
    merged = run(PLAYERS, fetcher, {})
    assert fetcher.calls == [
        ("/v1/players", {"per_page": 100}),
        ("/v1/players", {"per_page": 100, "cursor": 1}),
        ("/v1/players", {"per_page": 100, "cursor": 2}),
    ]
    assert merged["data"] == recorded and merged["meta"]["pages"] == 3
    assert [row["player_id"] for row in PLAYERS.parse(merged, ctx())] == [p["id"] for p in recorded]


def test_injuries_request_follows_the_cursor() -> None:
    recorded = load(INJURIES_FILE)["data"]
    fetcher = FakeFetcher(cursor_pages([recorded[:1], recorded[1:]]))
    merged = run(INJURIES, fetcher, {"date": "2025-02-20"})
    assert fetcher.calls == [
        ("/v1/player_injuries", {"per_page": 100}),
        ("/v1/player_injuries", {"per_page": 100, "cursor": 1}),
    ]
    assert merged["data"] == recorded
    assert run(INJURIES, FakeFetcher(cursor_pages([recorded])), {})["data"] == recorded


def test_games_pages_keep_the_date_on_every_request() -> None:
    recorded = load(GAMES_FILE)["data"]
    fetcher = FakeFetcher(cursor_pages([recorded[:5], recorded[5:]]))
    merged = run(GAMES, fetcher, {"date": "2025-02-20"})
    assert [query for _, query in fetcher.calls] == [
        {"dates[]": "2025-02-20", "per_page": 100},
        {"dates[]": "2025-02-20", "per_page": 100, "cursor": 1},
    ]
    assert len(GAMES.parse(merged, ctx())) == len(recorded)


def test_a_cursor_that_never_ends_stops_at_the_page_limit() -> None:
    fetcher = FakeFetcher(lambda path, query: {"data": [], "meta": {"next_cursor": 7}})
    with pytest.raises(RuntimeError, match=f"more than {MAX_PAGES} pages"):
        run(PLAYERS, fetcher, {})
    assert len(fetcher.calls) == MAX_PAGES


def test_a_malformed_later_page_fails_naming_it() -> None:
    first = {"data": load(PLAYERS_FILE)["data"], "meta": {"next_cursor": 1}}
    fetcher = FakeFetcher(lambda path, query: first if "cursor" not in query else {"error": "x"})
    with pytest.raises(ParseError, match=re.escape("bdl_players: field '<page 2>.data'")):
        run(PLAYERS, fetcher, {})


def test_a_malformed_first_page_is_kept_for_the_parser_to_name() -> None:
    fetcher = FakeFetcher(lambda path, query: {"error": "rate limited"})
    body = run(PLAYERS, fetcher, {})
    assert body == {"error": "rate limited"} and len(fetcher.calls) == 1
    assert_parse_error(PLAYERS, body, "data")


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        (DateParams, {}, "date"),
        (DateParams, {"date": "20-02-2025"}, "date"),
        (DateParams, {"date": "2025-02-20", "team": "DEN"}, "team"),
        (NoParams, {"cursor": 5}, "cursor"),
        (InjuryParams, {"team_ids": [2]}, "team_ids"),
    ],
)
def test_params_are_validated(model: Any, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(params)
    assert caught.value.errors()[0]["loc"] == (field,)
