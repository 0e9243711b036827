"""Every recording is parsed by the scraper it answers, rows checked against the file itself.

The test lists the recordings folder, so a recording added without saying which scraper
parses it (or why none does) fails here until it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from libs.common.sources.base import ParseContext
from libs.common.sources.nbacom import TEAM_PATH, next_data
from libs.common.sources.registry import get_source
from nba_pipeline.cli import read_body
from tests.conftest import RECORDINGS

Keys = Callable[[Any], list[tuple[Any, ...]]]
"""What the rows must hold, read from the file: one tuple of `columns` values per row."""


def _box_lines(body: Any) -> list[tuple[Any, ...]]:
    return [
        (line["player"]["id"], game[side]["abbreviation"], line["pts"])
        for game in body["data"]
        for side in ("home_team", "visitor_team")
        for line in game[side]["players"]
    ]


def _player_points_overs(body: Any) -> list[tuple[Any, ...]]:
    return [
        (book["key"], outcome["description"], float(outcome["point"]))
        for book in body["data"]["bookmakers"]
        for market in book["markets"]
        if market["key"] == "player_points"
        for outcome in market["outcomes"]
        if outcome["name"] == "Over"
    ]


def _nbac_roster(body: Any) -> list[tuple[Any, ...]]:
    team = next_data(body, "nbac_roster")
    for key in TEAM_PATH:
        team = team[key]
    return [(player["PLAYER_ID"], player["PLAYER"]) for player in team["roster"]]


PARSED: dict[str, tuple[str, tuple[str, ...], Keys]] = {
    "balldontlie/bdl_games_v1_raw_2025-02-20.json": (
        "bdl_games", ("game_id", "home_team_abbr", "visitor_team_abbr"),
        lambda b: [(g["id"], g["home_team"]["abbreviation"], g["visitor_team"]["abbreviation"]) for g in b["data"]],
    ),
    "balldontlie/bdl_box_scores_v1_raw.json": (
        "bdl_box_scores", ("player_id", "team_abbr", "pts"), _box_lines,
    ),
    "balldontlie/bdl_box_scores_v1_raw_empty.json": (
        "bdl_box_scores", ("player_id", "team_abbr", "pts"), _box_lines,
    ),
    "balldontlie/bdl_players_v1_raw.json": (
        "bdl_players", ("player_id", "last_name"), lambda b: [(p["id"], p["last_name"]) for p in b["data"]],
    ),
    "oddsapi/historical_events_v4_raw_1.json": (
        "oddsa_events_his", ("event_id", "home_team", "away_team"),
        lambda b: [(e["id"], e["home_team"], e["away_team"]) for e in b["data"]],
    ),
    "oddsapi/historical_event_odds_v4_player_points_raw_4fd911e4.json": (
        "oddsa_player_props_his", ("bookmaker", "player_name", "line"), _player_points_overs,
    ),
    "oddsapi/historical_event_odds_v4_game_lines_raw.json": (
        "oddsa_player_props_his", ("bookmaker", "player_name", "line"), _player_points_overs,
    ),
    "espn/espn_scoreboard_site_v2_raw_20250214.json": (
        "espn_scoreboard", ("game_id",), lambda b: [(e["id"],) for e in b["events"]],
    ),
    "espn/espn_scoreboard_site_v2_raw_full.json": (
        "espn_scoreboard", ("game_id",), lambda b: [(e["id"],) for e in b["events"]],
    ),
    "espn/espn_team_roster_site_v2_raw_team2.json": (
        "espn_roster", ("athlete_id", "full_name"),
        lambda b: [(a["id"], a["fullName"]) for a in b["team"]["athletes"]],
    ),
    "nbacom/nbac_schedule_cdn_raw.json": (
        "nbac_schedule", ("game_id",),
        lambda b: [(g["gameId"],) for day in b["leagueSchedule"]["gameDates"] for g in day["games"]],
    ),
    "nbacom/nbac_roster_page_raw.html.gz": ("nbac_roster", ("player_id", "player"), _nbac_roster),
    "bettingpros/bp_events_v3_raw.json": (
        "bp_events", ("event_id", "home", "visitor"),
        lambda b: [(str(e["id"]), e["home"], e["visitor"]) for e in b["events"]],
    ),
}  # fmt: skip
"""Recording -> (scraper that parses it, row columns to check, the same values read from the file)."""

NOT_PARSED = {
    "balldontlie/bdl_player_injuries_v1_raw.json": "no injuries scraper in DESIGN §6; replay only",
    "nbacom/nbac_player_list_playerindex_raw.json": "no player-list scraper in DESIGN §6; replay only",
}
"""Recordings no scraper parses, and why."""


def recordings() -> list[str]:
    return sorted(
        str(path.relative_to(RECORDINGS))
        for path in RECORDINGS.rglob("*")
        if path.is_file() and path.name != "README.md"
    )


def test_every_recording_is_parsed_or_says_why_not() -> None:
    untested = sorted(set(recordings()) - set(PARSED) - set(NOT_PARSED))
    assert untested == [], (
        f"add each to PARSED (scraper, columns, values from the file): {untested}"
    )
    assert sorted(set(PARSED) | set(NOT_PARSED)) == recordings(), "listed recordings that are gone"
    assert not set(PARSED) & set(NOT_PARSED)


def test_every_recording_is_listed_in_the_readme() -> None:
    readme = (RECORDINGS / "README.md").read_text()
    assert [name for name in recordings() if f"| {name} |" not in readme] == []


@pytest.mark.parametrize("name", sorted(PARSED))
def test_recording_parses_into_the_rows_the_file_holds(name: str) -> None:
    scraper, columns, keys = PARSED[name]
    source = get_source(scraper)
    body = read_body(RECORDINGS / name)
    context = ParseContext("run-1", f"recordings/{name}", None, dt.datetime.now(dt.UTC), {})
    rows = source.parse(body, context)
    assert all(tuple(row) == source.table.column_names for row in rows)
    assert sorted(tuple(row[c] for c in columns) for row in rows) == sorted(keys(body))
    assert isinstance(body, str) == (source.body_format == "html")
