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
from libs.common.sources.params import OptionalDateParams
from libs.common.sources.parsing import (
    int_or_none,
    lineage,
    need,
    need_int,
    need_list,
    parse_date,
    parse_timestamp,
    snapshot_date,
)
from libs.common.tables.raw import NBAC_SCHEDULE, NBAC_TEAM_ROSTER
from libs.common.teams import TEAMS

SCHEDULE_PATH = "/static/json/staticData/scheduleLeagueV2_1.json"


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
                "roster_date": snapshot_date(ctx),
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


async def _fetch_schedule(fetcher: Fetcher, params: OptionalDateParams) -> Any:
    return await fetcher.get_json(SCHEDULE_PATH)


async def _fetch_roster(fetcher: Fetcher, params: NbacRosterParams) -> Any:
    return await fetcher.get_text(f"/team/{params.team_id}/{params.slug}")


SOURCES = (
    Source("nbac_schedule", "nbacom_cdn", "nba-com/schedule", NBAC_SCHEDULE, OptionalDateParams,
           _fetch_schedule, parse_schedule, "NBA.com season schedule; one date's games if given."),
    Source("nbac_roster", "nbacom_web", "nba-com/team-roster", NBAC_TEAM_ROSTER, NbacRosterParams,
           _fetch_roster, parse_roster, "NBA.com team page roster (from __NEXT_DATA__).",
           body_format="html", live_only=True),
)  # fmt: skip
