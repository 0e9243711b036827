"""balldontlie v1: games, box scores, players and the injury report (cursor pagination)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.messages import GameDate
from libs.common.sources.base import Fetcher, ParseContext, ParseError, Row, Source
from libs.common.sources.params import DateParams, NoParams
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
from libs.common.tables.raw import (
    BDL_GAMES,
    BDL_PLAYER_BOXSCORES,
    BDL_PLAYER_INJURIES,
    BDL_PLAYERS,
    STAT_COLUMNS,
)

MAX_PAGES = 100
"""Safety stop for cursor pagination: the full player list is ~50 pages of 100."""


async def fetch_all_pages(fetcher: Fetcher, scraper: str, path: str, params: dict[str, Any]) -> Any:
    """Follow `meta.next_cursor`, merging every page's `data` into the first page's body.

    A malformed first page is returned as is, so it is stored and its parser names the field;
    a malformed later page fails here, naming the page.
    """
    body = await fetcher.get_json(path, {**params, "per_page": 100})
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return body
    merged = list(body["data"])
    pages = 1
    while cursor := (body.get("meta") or {}).get("next_cursor"):
        if pages >= MAX_PAGES:
            raise RuntimeError(f"{path}: more than {MAX_PAGES} pages, stopping")
        body = await fetcher.get_json(path, {**params, "per_page": 100, "cursor": cursor})
        pages += 1
        merged += need_list(body, "data", scraper, f"<page {pages}>")
    return {"data": merged, "meta": {**(body.get("meta") or {}), "pages": pages}}


TEAM_COLUMNS = ("id", "abbreviation", "full_name")


def _team(game: dict[str, Any], side: str, scraper: str, where: str) -> dict[str, Any]:
    team = need(game, side, scraper, where)
    return {key: need(team, key, scraper, f"{where}.{side}") for key in TEAM_COLUMNS}


def parse_games(body: Any, ctx: ParseContext) -> list[Row]:
    """`{data: [game]}` to one row per game."""
    rows = []
    for i, game in enumerate(need_list(body, "data", "bdl_games")):
        where = f"data[{i}]"
        home = _team(game, "home_team", "bdl_games", where)
        away = _team(game, "visitor_team", "bdl_games", where)
        start = game.get("datetime")
        rows.append(
            {
                "game_id": need_int(game, "id", "bdl_games", where),
                "game_date": parse_date(
                    need(game, "date", "bdl_games", where), "bdl_games", f"{where}.date"
                ),
                "season": game.get("season"),
                "status": game.get("status"),
                "period": game.get("period"),
                "postseason": game.get("postseason"),
                "start_time": parse_timestamp(start, "bdl_games", f"{where}.datetime")
                if start
                else None,
                "home_team_id": home["id"],
                "home_team_abbr": home["abbreviation"],
                "home_team_name": home["full_name"],
                "home_team_score": int_or_none(
                    game.get("home_team_score"), "bdl_games", f"{where}.home_team_score"
                ),
                "visitor_team_id": away["id"],
                "visitor_team_abbr": away["abbreviation"],
                "visitor_team_name": away["full_name"],
                "visitor_team_score": int_or_none(
                    game.get("visitor_team_score"), "bdl_games", f"{where}.visitor_team_score"
                ),
                **lineage(ctx),
            }
        )
    return rows


def parse_minutes(value: Any, scraper: str, path: str) -> float | None:
    """balldontlie minutes: '28', '28:30', '' or None."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if ":" in text:
            minutes, seconds = text.split(":", 1)
            return int(minutes or 0) + int(seconds or 0) / 60
        return float(text)
    except ValueError as exc:
        raise ParseError(scraper, path, f"not minutes like '28' or '28:30': {value!r}") from exc


def parse_box_scores(body: Any, ctx: ParseContext) -> list[Row]:
    """`{data: [game with home_team.players[] and visitor_team.players[]]}` to one row per player."""
    name = "bdl_box_scores"
    rows = []
    for i, game in enumerate(need_list(body, "data", name)):
        where = f"data[{i}]"
        game_date = parse_date(need(game, "date", name, where), name, f"{where}.date")
        sides = (("home_team", "visitor_team", True), ("visitor_team", "home_team", False))
        for side, other, is_home in sides:
            team = need(game, side, name, where)
            opponent = need(
                need(game, other, name, where), "abbreviation", name, f"{where}.{other}"
            )
            for j, line in enumerate(need_list(team, "players", name, f"{where}.{side}")):
                at = f"{where}.{side}.players[{j}]"
                player = need(line, "player", name, at)
                rows.append(
                    {
                        "game_date": game_date,
                        "season": game.get("season"),
                        "game_status": game.get("status"),
                        "player_id": need_int(player, "id", name, f"{at}.player"),
                        "player_name": f"{player.get('first_name', '')} {player.get('last_name', '')}".strip(),
                        "position": player.get("position"),
                        "team_abbr": need(team, "abbreviation", name, f"{where}.{side}"),
                        "opponent_abbr": opponent,
                        "is_home": is_home,
                        "minutes": parse_minutes(line.get("min"), name, f"{at}.min"),
                        **{
                            stat: int_or_none(line.get(stat), name, f"{at}.{stat}")
                            for stat in STAT_COLUMNS
                        },
                        **lineage(ctx),
                    }
                )
    return rows


PLAYER_FIELDS = (
    "first_name", "last_name", "position", "height", "weight", "jersey_number", "college", "country",
)  # fmt: skip
DRAFT_FIELDS = ("draft_year", "draft_round", "draft_number")


def parse_players(body: Any, ctx: ParseContext) -> list[Row]:
    """`{data: [player with team]}` to one row per player."""
    rows = []
    for i, player in enumerate(need_list(body, "data", "bdl_players")):
        team = player.get("team") or {}
        rows.append(
            {
                "player_id": need_int(player, "id", "bdl_players", f"data[{i}]"),
                **{key: player.get(key) for key in PLAYER_FIELDS},
                **{
                    key: int_or_none(player.get(key), "bdl_players", f"data[{i}].{key}")
                    for key in DRAFT_FIELDS
                },
                "team_id": team.get("id"),
                "team_abbr": team.get("abbreviation"),
                **lineage(ctx),
            }
        )
    return rows


def parse_injuries(body: Any, ctx: ParseContext) -> list[Row]:
    """`{data: [{player, status, return_date, description}]}` to one row per listed player."""
    name = "bdl_player_injuries"
    rows = []
    for i, injury in enumerate(need_list(body, "data", name)):
        where = f"data[{i}]"
        player = need(injury, "player", name, where)
        rows.append(
            {
                "report_date": snapshot_date(ctx),
                "player_id": need_int(player, "id", name, f"{where}.player"),
                "first_name": player.get("first_name"),
                "last_name": player.get("last_name"),
                "position": player.get("position"),
                "team_id": int_or_none(player.get("team_id"), name, f"{where}.player.team_id"),
                "status": injury.get("status"),
                "return_date": injury.get("return_date"),
                "description": injury.get("description"),
                **lineage(ctx),
            }
        )
    return rows


class InjuryParams(BaseModel):
    """The injury report as it stands now, filed under the game date it is fetched for."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"date": "2025-02-20"}]}
    )
    date: GameDate | None = Field(default=None, description="game date the report belongs to")


async def _fetch_games(fetcher: Fetcher, params: DateParams) -> Any:
    return await fetch_all_pages(
        fetcher, "bdl_games", "/v1/games", {"dates[]": params.date.isoformat()}
    )


async def _fetch_box_scores(fetcher: Fetcher, params: DateParams) -> Any:
    return await fetcher.get_json("/v1/box_scores", {"date": params.date.isoformat()})


async def _fetch_players(fetcher: Fetcher, params: NoParams) -> Any:
    return await fetch_all_pages(fetcher, "bdl_players", "/v1/players", {})


async def _fetch_injuries(fetcher: Fetcher, params: InjuryParams) -> Any:
    return await fetch_all_pages(fetcher, "bdl_player_injuries", "/v1/player_injuries", {})


SOURCES = (
    Source("bdl_games", "balldontlie", "ball-dont-lie/games", BDL_GAMES, DateParams,
           _fetch_games, parse_games, "Games on a date, with scores once final."),
    Source("bdl_box_scores", "balldontlie", "ball-dont-lie/box-scores", BDL_PLAYER_BOXSCORES,
           DateParams, _fetch_box_scores, parse_box_scores, "Player box scores for every game on a date."),
    Source("bdl_players", "balldontlie", "ball-dont-lie/players", BDL_PLAYERS, NoParams,
           _fetch_players, parse_players, "All players, every page of the cursor."),
    Source("bdl_player_injuries", "balldontlie", "ball-dont-lie/injuries", BDL_PLAYER_INJURIES,
           InjuryParams, _fetch_injuries, parse_injuries,
           "The injury report now: status, expected return and news per listed player.",
           live_only=True),
)  # fmt: skip
