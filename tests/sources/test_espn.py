"""ESPN sources: scoreboard and roster recordings, empty days, bad bodies and the requests made."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.sources.base import ParseContext, ParseError
from libs.common.sources.params import DateParams, TeamParams
from libs.common.sources.registry import get_source
from libs.common.tables.raw import ESPN_SCOREBOARD, ESPN_TEAM_ROSTERS
from tests.conftest import RECORDINGS
from tests.utils.fetchers import FakeFetcher

ESPN = RECORDINGS / "espn"
FULL_FILE = ESPN / "espn_scoreboard_site_v2_raw_full.json"
EMPTY_DAY_FILE = ESPN / "espn_scoreboard_site_v2_raw_20250214.json"
ROSTER_FILE = ESPN / "espn_team_roster_site_v2_raw_team2.json"
FETCHED = dt.datetime(2025, 7, 17, 3, 30, tzinfo=dt.UTC)  # still 2025-07-16 in New York
SCOREBOARD = get_source("espn_scoreboard")
ROSTER = get_source("espn_roster")


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def ctx(game_date: dt.date | None = None) -> ParseContext:
    return ParseContext("run-1", "gs://nba-scraped-data/espn/x.json", game_date, FETCHED, {})


def broken(path: Path, change: Callable[[Any], Any]) -> Any:
    body = copy.deepcopy(load(path))
    change(body)
    return body


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_sources_and_tables() -> None:
    assert (SCOREBOARD.name, ROSTER.name) == ("espn_scoreboard", "espn_roster")
    assert SCOREBOARD.upstream == ROSTER.upstream == "espn"
    assert (SCOREBOARD.params_model, ROSTER.params_model) == (DateParams, TeamParams)
    assert SCOREBOARD.table.fqn == "nba_raw.espn_scoreboard"
    assert ROSTER.table.fqn == "nba_raw.espn_team_rosters"
    assert ESPN_SCOREBOARD.natural_key == ("game_id",)
    assert ESPN_TEAM_ROSTERS.natural_key == ("team_id", "athlete_id", "source_file")
    assert ESPN_SCOREBOARD.column_names[-4:] == (
        "execution_id", "source_file", "loaded_at", "fetched_at",
    )  # fmt: skip


# --- scoreboard ------------------------------------------------------------------------------


def test_scoreboard_full_slate() -> None:
    body = load(FULL_FILE)
    rows = SCOREBOARD.parse(body, ctx())
    assert len(rows) == len(body["events"]) == 11
    for row, event in zip(rows, body["events"], strict=True):
        assert tuple(row) == ESPN_SCOREBOARD.column_names
        competitors = {c["homeAway"]: c for c in event["competitions"][0]["competitors"]}
        assert row["game_id"] == event["id"]
        assert row["start_time"] == utc(event["date"])
        for side in ("home", "away"):
            assert row[f"{side}_team_id"] == competitors[side]["team"]["id"]
            assert row[f"{side}_team_abbr"] == competitors[side]["team"]["abbreviation"]
            assert row[f"{side}_team_score"] == int(competitors[side]["score"])
        # late West-coast tip-offs are already the 16th in UTC, still the 15th in New York
        assert row["game_date"] == dt.date(2024, 1, 15)
        assert type(row["game_date"]) is dt.date and type(row["start_time"]) is dt.datetime
        assert type(row["home_team_score"]) is int and type(row["season_year"]) is int
    first = rows[0]
    assert (first["game_id"], first["status"], first["completed"]) == (
        "401585183",
        "STATUS_FINAL",
        True,
    )
    assert (first["home_team_abbr"], first["home_team_name"], first["home_team_score"]) == (
        "PHI", "Philadelphia 76ers", 124,
    )  # fmt: skip
    assert (first["away_team_id"], first["away_team_abbr"], first["away_team_score"]) == (
        "10",
        "HOU",
        115,
    )
    assert (first["season_year"], first["season_type"]) == (2024, 2)
    assert (first["venue_name"], first["venue_city"]) == ("Wells Fargo Center", "Philadelphia")
    last = rows[-1]
    assert last["start_time"] == dt.datetime(2024, 1, 16, 3, 30, tzinfo=dt.UTC)
    assert (last["home_team_abbr"], last["away_team_abbr"]) == ("LAL", "OKC")
    assert (first["execution_id"], first["source_file"]) == (
        "run-1",
        "gs://nba-scraped-data/espn/x.json",
    )


def test_scoreboard_game_date_is_the_runs_date_when_given() -> None:
    rows = SCOREBOARD.parse(load(FULL_FILE), ctx(dt.date(2024, 1, 15)))
    assert {row["game_date"] for row in rows} == {dt.date(2024, 1, 15)}


def test_scoreboard_day_without_games() -> None:
    body = load(EMPTY_DAY_FILE)  # 2025-02-14, the All-Star break
    assert SCOREBOARD.parse(body, ctx(dt.date(2025, 2, 14))) == []
    assert len(body["events"]) == 0
    assert SCOREBOARD.parse({"events": []}, ctx()) == []


def test_scoreboard_keeps_a_missing_score_null() -> None:
    body = broken(
        FULL_FILE, lambda b: b["events"][0]["competitions"][0]["competitors"][1].pop("score")
    )
    assert SCOREBOARD.parse(body, ctx())[0]["away_team_score"] is None


COMPETITION = "events[0].competitions[0]"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"leagues": []}, "events"),
        ({"events": {"id": "1"}}, "events"),
        ([], "<body>"),
        ("truncated {", "<body>"),
        (broken(FULL_FILE, lambda b: b["events"][0].pop("date")), "events[0].date"),
        (broken(FULL_FILE, lambda b: b["events"][0].update(date="soon")), "events[0].date"),
        (broken(FULL_FILE, lambda b: b["events"][0].pop("id")), "events[0].id"),
        (broken(FULL_FILE, lambda b: b["events"][0].update(competitions=[])), "events[0].competitions"),
        (broken(FULL_FILE, lambda b: b["events"][1].pop("competitions")), "events[1].competitions"),
        (broken(FULL_FILE, lambda b: b["events"][0]["competitions"][0]["competitors"].pop(0)), f"{COMPETITION}.competitors"),
        (broken(FULL_FILE, lambda b: b["events"][0]["competitions"][0]["competitors"][0].pop("team")), f"{COMPETITION}.competitors[0].team"),
        (broken(FULL_FILE, lambda b: b["events"][0]["competitions"][0]["competitors"][1]["team"].pop("abbreviation")), f"{COMPETITION}.competitors[1].team.abbreviation"),
        (broken(FULL_FILE, lambda b: b["events"][0]["competitions"][0]["competitors"][0].update(score="12x")), f"{COMPETITION}.competitors[0].score"),
        (broken(FULL_FILE, lambda b: b["events"][0]["season"].update(year="2024-25")), "events[0].season.year"),
    ],
)  # fmt: skip
def test_scoreboard_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        SCOREBOARD.parse(body, ctx())
    assert (caught.value.scraper_name, caught.value.field) == ("espn_scoreboard", field)
    assert str(caught.value).startswith(f"espn_scoreboard: field '{field}'")


# --- roster ----------------------------------------------------------------------------------


def test_roster_recording() -> None:
    body = load(ROSTER_FILE)
    athletes = body["team"]["athletes"]
    rows = ROSTER.parse(body, ctx(dt.date(2025, 7, 17)))
    assert len(rows) == len(athletes) == 17
    for row, athlete in zip(rows, athletes, strict=True):
        assert tuple(row) == ESPN_TEAM_ROSTERS.column_names
        assert (row["team_id"], row["team_abbr"]) == ("2", "BOS")
        assert (row["athlete_id"], row["full_name"]) == (athlete["id"], athlete["fullName"])
        assert row["roster_date"] == dt.date(2025, 7, 17)
        assert type(row["age"]) is int and type(row["experience_years"]) is int
        assert row["injury_status"] == (
            athlete["injuries"][0]["status"] if athlete["injuries"] else None
        )
    by_name = {row["full_name"]: row for row in rows}
    brown = by_name["Jaylen Brown"]
    assert (brown["athlete_id"], brown["jersey"], brown["position"]) == ("3917376", "7", "SG")
    assert (brown["height"], brown["weight"], brown["age"], brown["experience_years"]) == (
        78.0,
        223.0,
        28,
        8,
    )
    assert (brown["status"], brown["injury_status"]) == ("Active", "Out")
    assert brown["injury_comment"].startswith("Brown underwent a successful right knee")
    assert by_name["Baylor Scheierman"]["experience_years"] == 0
    horford = by_name["Al Horford"]
    assert (horford["jersey"], horford["position"], horford["injury_status"], horford["injury_comment"]) == (
        "42", "C", None, None,
    )  # fmt: skip


def test_roster_date_defaults_to_the_eastern_day_it_was_fetched() -> None:
    rows = ROSTER.parse(load(ROSTER_FILE), ctx())
    assert {row["roster_date"] for row in rows} == {dt.date(2025, 7, 16)}


def test_roster_without_athletes() -> None:
    body = broken(ROSTER_FILE, lambda b: b["team"].update(athletes=[]))
    assert ROSTER.parse(body, ctx()) == []
    assert ROSTER.parse({"team": {"id": "2", "abbreviation": "BOS", "athletes": []}}, ctx()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "team"),
        ({"team": []}, "team"),
        ("truncated {", "<body>"),
        (broken(ROSTER_FILE, lambda b: b["team"].pop("athletes")), "team.athletes"),
        (broken(ROSTER_FILE, lambda b: b["team"].update(athletes={"id": "1"})), "team.athletes"),
        (broken(ROSTER_FILE, lambda b: b["team"].pop("abbreviation")), "team.abbreviation"),
        (broken(ROSTER_FILE, lambda b: b["team"]["athletes"][3].pop("id")), "team.athletes[3].id"),
        (broken(ROSTER_FILE, lambda b: b["team"]["athletes"][0].pop("fullName")), "team.athletes[0].fullName"),
        (broken(ROSTER_FILE, lambda b: b["team"]["athletes"].insert(0, "Jaylen Brown")), "team.athletes[0]"),
        (broken(ROSTER_FILE, lambda b: b["team"]["athletes"][0].update(age="28y")), "team.athletes[0].age"),
        (broken(ROSTER_FILE, lambda b: b["team"]["athletes"][0]["experience"].update(years=1.5)), "team.athletes[0].experience.years"),
    ],
)  # fmt: skip
def test_roster_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        ROSTER.parse(body, ctx())
    assert (caught.value.scraper_name, caught.value.field) == ("espn_roster", field)
    assert str(caught.value).startswith(f"espn_roster: field '{field}'")


# --- requests --------------------------------------------------------------------------------


def test_scoreboard_request() -> None:
    fetcher = FakeFetcher({"events": []})
    params = DateParams.model_validate({"date": "2025-02-14"})
    assert asyncio.run(SCOREBOARD.fetch(fetcher, params)) == {"events": []}
    assert fetcher.calls == [
        ("/apis/site/v2/sports/basketball/nba/scoreboard", {"dates": "20250214"})
    ]
    assert SCOREBOARD.game_date(params) == dt.date(2025, 2, 14)


def test_roster_request() -> None:
    body = load(ROSTER_FILE)
    fetcher = FakeFetcher(body)
    params = TeamParams.model_validate({"team_id": "2", "date": "2025-07-16"})
    assert asyncio.run(ROSTER.fetch(fetcher, params)) is body
    assert fetcher.calls == [("/apis/site/v2/sports/basketball/nba/teams/2", {"enable": "roster"})]
    assert ROSTER.game_date(params) == dt.date(2025, 7, 16)


@pytest.mark.parametrize(
    "params",
    [{}, {"team_id": ""}, {"team_id": "2", "slug": "celtics"}, {"team_id": ".."},
     {"team_id": "../x"}, {"team_id": "31"}, {"team_id": "2", "date": "9999-12-31"}],
)  # fmt: skip
def test_roster_params_are_validated(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TeamParams.model_validate(params)
