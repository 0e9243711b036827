"""NBA.com: the league schedule from the CDN, and a team's roster from its Next.js team page.

The schedule is one file for the whole season (`leagueSchedule.gameDates[].games[]`); a run
for one date keeps only that date's games. The team page is HTML whose roster sits in the
`__NEXT_DATA__` script tag as JSON, under `props.pageProps.team.roster`, with the stats API's
UPPER_CASE field names (PLAYER, NUM, EXP...), kept here in snake_case.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.common.messages import GameDate
from libs.common.sources.base import Fetcher, ParseContext, ParseError, Row, Source
from libs.common.sources.espn import roster_date
from libs.common.sources.params import OptionalDateParams
from libs.common.sources.parsing import (
    int_or_none,
    lineage,
    need,
    need_int,
    need_list,
    parse_date,
    parse_timestamp,
)
from libs.common.teams import TEAMS
from libs.common.warehouse.schema import LINEAGE_COLUMNS, Column, Table, col

SCHEDULE_PATH = "/static/json/staticData/scheduleLeagueV2_1.json"
SIDES = ("home", "away")


def _side_columns(side: str) -> tuple[Column, ...]:
    return (
        col(f"{side}_team_id", "INT64", description="NBA.com team id; 0 while undetermined"),
        col(f"{side}_team_tricode", "STRING", description="e.g. GSW"),
        col(f"{side}_team_name", "STRING", description="e.g. Warriors"),
        col(f"{side}_team_city", "STRING", description="e.g. Golden State"),
        col(f"{side}_team_score", "INT64", description="as given: 0 before tip-off"),
    )


NBAC_SCHEDULE = Table(
    "nba_raw",
    "nbac_schedule",
    (
        col("game_id", "STRING", True, "NBA.com game id, text: '0022400001'"),
        col("game_code", "STRING", description="e.g. 20251002/PHINYK"),
        col("game_date", "DATE", True, "US Eastern game date (gameDateEst)"),
        col("game_status", "INT64", description="1 scheduled, 2 live, 3 final"),
        col("game_status_text", "STRING", description="e.g. '7:30 pm ET', 'Final'"),
        col("start_time_utc", "TIMESTAMP", True, "scheduled tip-off (gameDateTimeUTC)"),
        *(column for side in SIDES for column in _side_columns(side)),
        col("arena_name", "STRING"),
        col("arena_city", "STRING"),
        col("week_number", "INT64", description="0 in the preseason"),
        col("season_year", "STRING", description="e.g. 2025-26"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("game_id",),
    partition_column="game_date",
    description="One current row per game (state source).",
)


def _team(game: Any, side: str, name: str, where: str) -> Row:
    at = f"{where}.{side}Team"
    team = need(game, f"{side}Team", name, where)
    return {
        f"{side}_team_id": int_or_none(need(team, "teamId", name, at), name, f"{at}.teamId"),
        f"{side}_team_tricode": need(team, "teamTricode", name, at),
        f"{side}_team_name": team.get("teamName"),
        f"{side}_team_city": team.get("teamCity"),
        f"{side}_team_score": int_or_none(team.get("score"), name, f"{at}.score"),
    }


def parse_schedule(body: Any, ctx: ParseContext) -> list[Row]:
    """`{leagueSchedule: {gameDates: [{games}]}}` to one row per game (of the run's date, if any)."""
    name = "nbac_schedule"
    schedule = need(body, "leagueSchedule", name)
    rows = []
    for i, day in enumerate(need_list(schedule, "gameDates", name, "leagueSchedule")):
        at_day = f"leagueSchedule.gameDates[{i}]"
        for j, game in enumerate(need_list(day, "games", name, at_day)):
            where = f"{at_day}.games[{j}]"
            game_date = parse_date(
                need(game, "gameDateEst", name, where), name, f"{where}.gameDateEst"
            )
            if ctx.game_date is not None and game_date != ctx.game_date:
                continue
            start = need(game, "gameDateTimeUTC", name, where)
            rows.append(
                {
                    "game_id": need(game, "gameId", name, where),
                    "game_code": game.get("gameCode"),
                    "game_date": game_date,
                    "game_status": int_or_none(game.get("gameStatus"), name, f"{where}.gameStatus"),
                    "game_status_text": game.get("gameStatusText"),
                    "start_time_utc": parse_timestamp(start, name, f"{where}.gameDateTimeUTC"),
                    **_team(game, "home", name, where),
                    **_team(game, "away", name, where),
                    "arena_name": game.get("arenaName"),
                    "arena_city": game.get("arenaCity"),
                    "week_number": int_or_none(game.get("weekNumber"), name, f"{where}.weekNumber"),
                    "season_year": schedule.get("seasonYear"),
                    **lineage(ctx),
                }
            )
    return rows


NBAC_TEAM_ROSTER = Table(
    "nba_raw",
    "nbac_team_roster",
    (
        col("roster_date", "DATE", True, "the run's date, else the US Eastern day it was fetched"),
        col("team_id", "INT64", True, "NBA.com team id (TeamID)"),
        col("team_tricode", "STRING", description="team.info.TEAM_ABBREVIATION, e.g. GSW"),
        col("season", "STRING", description="season the roster is for, e.g. '2025' for 2025-26"),
        col("player_id", "INT64", True, "NBA.com player id"),
        col("player", "STRING", True, "full name"),
        col("nickname", "STRING", description="first name as commonly used"),
        col("player_slug", "STRING"),
        col("num", "STRING", description="jersey number, text: '0' and '00' differ; NULL if none"),
        col("position", "STRING", description="e.g. G, F, C, G-F"),
        col("height", "STRING", description="feet-inches, e.g. 6-4"),
        col("weight", "INT64", description="pounds"),
        col("birth_date", "DATE"),
        col("age", "INT64"),
        col("exp", "STRING", description="seasons of experience; 'R' for a rookie"),
        col("school", "STRING", description="college, club or country"),
        col("how_acquired", "STRING", description="e.g. '#7 Pick in 2009 Draft'"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("team_id", "player_id", "source_file"),
    partition_column="roster_date",
    description="Every fetched NBA.com roster of a team (snapshot source).",
)

NEXT_DATA = re.compile(
    r"<script\b[^>]*\bid=[\"']__NEXT_DATA__[\"'][^>]*>(.*?)(?:</script>|\Z)", re.S | re.I
)
"""The Next.js data tag; a page cut off inside it still matches, so the JSON error is reported."""
TEAM_PATH = ("props", "pageProps", "team")


def next_data(body: Any, scraper: str) -> Any:
    """The JSON document a Next.js page embeds in `<script id="__NEXT_DATA__">`."""
    if not isinstance(body, str):
        raise ParseError(scraper, "<body>", f"expected HTML text, got {type(body).__name__}")
    match = NEXT_DATA.search(body)
    if match is None:
        raise ParseError(scraper, "__NEXT_DATA__", "no <script id='__NEXT_DATA__'> in the page")
    try:
        return json.loads(match.group(1))
    except json.JSONDecodeError as exc:
        raise ParseError(scraper, "__NEXT_DATA__", f"not valid JSON: {exc}") from exc


def _birth_date(value: Any, scraper: str, path: str) -> dt.date | None:
    """NBA.com's `DEC 24, 2002`; None or "" is NULL."""
    if value is None or value == "":
        return None
    try:
        return dt.datetime.strptime(str(value), "%b %d, %Y").date()
    except ValueError as exc:
        raise ParseError(scraper, path, f"not a date like 'DEC 24, 2002': {value!r}") from exc


def parse_roster(body: Any, ctx: ParseContext) -> list[Row]:
    """A team page's `__NEXT_DATA__.props.pageProps.team.roster` to one row per player."""
    name = "nbac_roster"
    team: Any = next_data(body, name)
    where = "__NEXT_DATA__"
    for key in TEAM_PATH:
        team, where = need(team, key, name, where), f"{where}.{key}"
    roster = need_list(team, "roster", name, where)
    info = team.get("info")
    tricode = info.get("TEAM_ABBREVIATION") if isinstance(info, dict) else None
    rows = []
    for i, player in enumerate(roster):
        at = f"{where}.roster[{i}]"
        rows.append(
            {
                "roster_date": roster_date(ctx),
                "team_id": need_int(player, "TeamID", name, at),
                "team_tricode": tricode,
                "season": player.get("SEASON"),
                "player_id": need_int(player, "PLAYER_ID", name, at),
                "player": need(player, "PLAYER", name, at),
                "nickname": player.get("NICKNAME"),
                "player_slug": player.get("PLAYER_SLUG"),
                "num": player.get("NUM"),
                "position": player.get("POSITION"),
                "height": player.get("HEIGHT"),
                "weight": int_or_none(player.get("WEIGHT"), name, f"{at}.WEIGHT"),
                "birth_date": _birth_date(player.get("BIRTH_DATE"), name, f"{at}.BIRTH_DATE"),
                "age": int_or_none(player.get("AGE"), name, f"{at}.AGE"),
                "exp": player.get("EXP"),
                "school": player.get("SCHOOL"),
                "how_acquired": player.get("HOW_ACQUIRED"),
                **lineage(ctx),
            }
        )
    return rows


NBA_TEAM_IDS = frozenset(team.nba_id for team in TEAMS)
"""NBA.com's ids of the 30 teams: a team page exists for no other."""


class NbacRosterParams(BaseModel):
    """One NBA.com team page: the numeric team id and the slug its URL carries."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"team_id": 1610612744, "slug": "warriors"}]},
    )
    team_id: int = Field(
        description="NBA.com team id of one of the 30 teams (libs/common/teams.py), e.g. 1610612744"
    )
    slug: str = Field(
        max_length=40,
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        description="team-page slug, e.g. trail-blazers",
    )
    date: GameDate | None = Field(default=None, description="game date the snapshot belongs to")

    @field_validator("team_id")
    @classmethod
    def _a_team(cls, team_id: int) -> int:
        if team_id not in NBA_TEAM_IDS:
            raise ValueError(
                f"{team_id} is not NBA.com's id of an NBA team; one of "
                f"{min(NBA_TEAM_IDS)} to {max(NBA_TEAM_IDS)}"
            )
        return team_id


async def _fetch_schedule(fetcher: Fetcher, params: BaseModel) -> Any:
    return await fetcher.get_json(SCHEDULE_PATH)


async def _fetch_roster(fetcher: Fetcher, params: BaseModel) -> Any:
    assert isinstance(params, NbacRosterParams)
    return await fetcher.get_text(f"/team/{params.team_id}/{params.slug}")


SOURCES = (
    Source("nbac_schedule", "nbacom_cdn", "nba-com/schedule", NBAC_SCHEDULE, OptionalDateParams,
           _fetch_schedule, parse_schedule, "NBA.com season schedule; one date's games if given."),
    Source("nbac_roster", "nbacom_web", "nba-com/team-roster", NBAC_TEAM_ROSTER, NbacRosterParams,
           _fetch_roster, parse_roster, "NBA.com team page roster (from __NEXT_DATA__).",
           body_format="html", live_only=True),
)  # fmt: skip
