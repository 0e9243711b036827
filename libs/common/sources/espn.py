"""ESPN site API v2: the NBA scoreboard for a date and one team's roster.

ESPN sends its ids and scores as strings ("401585183", "124"); ids stay text, scores become
integers. Team ids are ESPN's own (BOS is "2"), not NBA.com's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from libs.common.clock import eastern_date
from libs.common.sources.base import Fetcher, ParseContext, ParseError, Row, Source
from libs.common.sources.params import DateParams, TeamParams
from libs.common.sources.parsing import (
    int_or_none,
    lineage,
    need,
    need_list,
    parse_timestamp,
    snapshot_date,
)
from libs.common.tables.raw import ESPN_SCOREBOARD, ESPN_TEAM_ROSTERS, SIDES

BASE = "/apis/site/v2/sports/basketball/nba"


def _object(value: Any) -> dict[str, Any]:
    """An optional nested object, as {} when absent or not an object."""
    return value if isinstance(value, dict) else {}


def _competitors(competition: Any, name: str, where: str) -> dict[str, Row]:
    """Home and away competitor columns of one competition."""
    competitors = need_list(competition, "competitors", name, where)
    by_side = {c.get("homeAway"): (i, c) for i, c in enumerate(competitors) if isinstance(c, dict)}
    columns: dict[str, Row] = {}
    for side in SIDES:
        if side not in by_side:
            raise ParseError(name, f"{where}.competitors", f"no {side} competitor")
        i, competitor = by_side[side]
        at = f"{where}.competitors[{i}]"
        team = need(competitor, "team", name, at)
        columns[side] = {
            f"{side}_team_id": need(team, "id", name, f"{at}.team"),
            f"{side}_team_abbr": need(team, "abbreviation", name, f"{at}.team"),
            f"{side}_team_name": team.get("displayName"),
            f"{side}_team_score": int_or_none(competitor.get("score"), name, f"{at}.score"),
        }
    return columns


def parse_scoreboard(body: Any, ctx: ParseContext) -> list[Row]:
    """`{events: [event with competitions[0]]}` to one row per event."""
    name = "espn_scoreboard"
    rows = []
    for i, event in enumerate(need_list(body, "events", name)):
        where = f"events[{i}]"
        start = parse_timestamp(need(event, "date", name, where), name, f"{where}.date")
        competitions = need_list(event, "competitions", name, where)
        if not competitions:
            raise ParseError(name, f"{where}.competitions", "empty")
        competition = competitions[0]
        sides = _competitors(competition, name, f"{where}.competitions[0]")
        status = _object(_object(event.get("status")).get("type"))
        season = _object(event.get("season"))
        venue = _object(_object(competition).get("venue"))
        rows.append(
            {
                "game_id": need(event, "id", name, where),
                "game_date": ctx.game_date or eastern_date(start),
                "start_time": start,
                "status": status.get("name"),
                "completed": status.get("completed"),
                "season_year": int_or_none(season.get("year"), name, f"{where}.season.year"),
                "season_type": int_or_none(season.get("type"), name, f"{where}.season.type"),
                **sides["home"],
                **sides["away"],
                "venue_name": venue.get("fullName"),
                "venue_city": _object(venue.get("address")).get("city"),
                **lineage(ctx),
            }
        )
    return rows


def parse_roster(body: Any, ctx: ParseContext) -> list[Row]:
    """`{team: {id, abbreviation, athletes: [athlete]}}` to one row per athlete."""
    name = "espn_roster"
    team = need(body, "team", name)
    team_columns = {
        "roster_date": snapshot_date(ctx),
        "team_id": need(team, "id", name, "team"),
        "team_abbr": need(team, "abbreviation", name, "team"),
    }
    rows = []
    for i, athlete in enumerate(need_list(team, "athletes", name, "team")):
        where = f"team.athletes[{i}]"
        athlete_id = need(athlete, "id", name, where)
        injuries = athlete.get("injuries")
        injury = _object(injuries[0]) if isinstance(injuries, list) and injuries else {}
        rows.append(
            {
                **team_columns,
                "athlete_id": athlete_id,
                "full_name": need(athlete, "fullName", name, where),
                "jersey": athlete.get("jersey"),
                "position": _object(athlete.get("position")).get("abbreviation"),
                "height": athlete.get("height"),
                "weight": athlete.get("weight"),
                "age": int_or_none(athlete.get("age"), name, f"{where}.age"),
                "experience_years": int_or_none(
                    _object(athlete.get("experience")).get("years"),
                    name,
                    f"{where}.experience.years",
                ),
                "status": _object(athlete.get("status")).get("name"),
                "injury_status": injury.get("status"),
                "injury_comment": injury.get("shortComment"),
                **lineage(ctx),
            }
        )
    return rows


async def _fetch_scoreboard(fetcher: Fetcher, params: DateParams) -> Any:
    return await fetcher.get_json(f"{BASE}/scoreboard", {"dates": params.date.strftime("%Y%m%d")})


async def _fetch_roster(fetcher: Fetcher, params: TeamParams) -> Any:
    path = f"{BASE}/teams/{quote(params.team_id, safe='')}"
    return await fetcher.get_json(path, {"enable": "roster"})


SOURCES = (
    Source("espn_scoreboard", "espn", "espn/scoreboard", ESPN_SCOREBOARD, DateParams,
           _fetch_scoreboard, parse_scoreboard, "ESPN scoreboard: every game on a date."),
    Source("espn_roster", "espn", "espn/rosters", ESPN_TEAM_ROSTERS, TeamParams,
           _fetch_roster, parse_roster, "ESPN roster of one team, with injury status.",
           live_only=True),
)  # fmt: skip
