"""balldontlie v1 as replayed: games, box scores, players (cursor pages) and injuries.

The key goes in the `Authorization` header; any non-empty value is accepted.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from nba_pipeline.replay import recordings
from nba_pipeline.replay.http import Memo, encode, json_response, upstream_error
from nba_pipeline.replay.league import BY_ABBR, BY_ESPN_ABBR, Club
from nba_pipeline.replay.season import SEASON_YEAR, Game, Player, Season, StatLine

PREFIX = "/balldontlie"


def require_key(authorization: Annotated[str | None, Header()] = None) -> None:
    """balldontlie answers 401 without an API key in `Authorization`."""
    if not authorization:
        raise upstream_error(PREFIX, 401, "Unauthorized")


def team(club: Club) -> dict[str, Any]:
    return {
        "id": club.bdl_id,
        "conference": club.conference,
        "division": club.division,
        "city": club.city,
        "name": club.name,
        "full_name": club.full_name,
        "abbreviation": club.abbr,
    }


def player(p: Player) -> dict[str, Any]:
    """A player as box scores embed it (no team)."""
    return {
        "id": p.bdl_id,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "position": p.position,
        "height": p.height,
        "weight": str(p.weight),
        "jersey_number": p.jersey,
        "college": p.college,
        "country": p.country,
        "draft_year": p.draft_year,
        "draft_round": p.draft_round,
        "draft_number": p.draft_number,
    }


def _game_head(date: str, home_score: int, away_score: int, periods: int) -> dict[str, Any]:
    """Fields a final game has in both /v1/games and /v1/box_scores, in the recorded order."""
    return {
        "date": date,
        "season": SEASON_YEAR,
        "status": "Final",
        "period": periods,
        "time": "Final",
        "postseason": False,
        "home_team_score": home_score,
        "visitor_team_score": away_score,
    }


def game(g: Game) -> dict[str, Any]:
    return {
        "id": g.bdl_id,
        **_game_head(g.date.isoformat(), g.home.score, g.away.score, g.periods),
        "datetime": g.start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "home_team": team(g.home.club),
        "visitor_team": team(g.away.club),
    }


def _pct(made: int, attempted: int) -> float | int:
    return round(made / attempted, 7) if attempted else 0


def stat_line(line: StatLine) -> dict[str, Any]:
    return {
        "min": f"{line.minutes:02d}",
        "fgm": line.fgm,
        "fga": line.fga,
        "fg_pct": _pct(line.fgm, line.fga),
        "fg3m": line.fg3m,
        "fg3a": line.fg3a,
        "fg3_pct": _pct(line.fg3m, line.fg3a),
        "ftm": line.ftm,
        "fta": line.fta,
        "ft_pct": _pct(line.ftm, line.fta),
        "oreb": line.oreb,
        "dreb": line.dreb,
        "reb": line.reb,
        "ast": line.ast,
        "stl": line.stl,
        "blk": line.blk,
        "turnover": line.turnover,
        "pf": line.pf,
        "pts": line.pts,
        "player": player(line.player),
    }


def box_scores(season: Season, day: dt.date) -> dict[str, Any]:
    data = []
    for g in season.games_on(day):
        home_lines, away_lines = season.box_score(g)
        data.append(
            {
                **_game_head(day.isoformat(), g.home.score, g.away.score, g.periods),
                "home_team": {**team(g.home.club), "players": [stat_line(x) for x in home_lines]},
                "visitor_team": {
                    **team(g.away.club),
                    "players": [stat_line(x) for x in away_lines],
                },
            }
        )
    return {"data": data}


def recorded_box_score_games(name: str) -> list[dict[str, Any]]:
    """Games of a box-score recording (2024-01-15) as /v1/games shows them.

    Ids are stable (1_037_001 + position); tip-offs come from the ESPN recording of that slate.
    """
    starts = {}
    for event in recordings.parsed(recordings.ESPN_SCOREBOARD_2024_01_15)["events"]:
        sides = {
            c["homeAway"]: c["team"]["abbreviation"]
            for c in event["competitions"][0]["competitors"]
        }
        key = (BY_ESPN_ABBR[sides["home"]].abbr, BY_ESPN_ABBR[sides["away"]].abbr)
        starts[key] = event["date"].replace("Z", ":00.000Z")
    games = []
    for i, box in enumerate(recordings.parsed(name)["data"]):
        home, away = box["home_team"]["abbreviation"], box["visitor_team"]["abbreviation"]
        games.append(
            {
                "id": 1_037_001 + i,
                **_game_head(
                    box["date"], box["home_team_score"], box["visitor_team_score"], box["period"]
                ),
                "season": box["season"],
                "datetime": starts.get((home, away)),
                "home_team": team(BY_ABBR[home]),
                "visitor_team": team(BY_ABBR[away]),
            }
        )
    return games


def cursor_page(items: list[dict[str, Any]], cursor: int | None, per_page: int) -> dict[str, Any]:
    """balldontlie cursor paging: items after the one whose id is `cursor`, ids ascending."""
    start = 0 if cursor is None else sum(1 for x in items if x["id"] <= cursor)
    page = items[start : start + per_page]
    meta: dict[str, Any] = {"per_page": per_page}
    if start + per_page < len(items):
        meta = {"next_cursor": page[-1]["id"], **meta}
    return {"data": page, "meta": meta}


PerPage = Annotated[int, Query(ge=1, le=100, description="page size, at most 100")]
Cursor = Annotated[int | None, Query(description="`meta.next_cursor` of the previous page")]


def router(season: Season) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["balldontlie"], dependencies=[Depends(require_key)])
    memo = Memo()

    def games_on(day: dt.date) -> list[dict[str, Any]]:
        if day in recordings.BDL_BOX_SCORES_DATES:
            name = recordings.BDL_BOX_SCORES_DATES[day]
            return memo.get(("games", day), lambda: recorded_box_score_games(name))
        return memo.get(("games", day), lambda: [game(g) for g in season.games_on(day)])

    @api.get("/v1/games", summary="Games on the given dates (every season game without dates[])")
    def games(
        dates: Annotated[list[dt.date], Query(alias="dates[]")] = [],  # noqa: B006 (FastAPI copies)
        cursor: Cursor = None,
        per_page: PerPage = 25,
    ) -> Response:
        recorded = recordings.BDL_GAMES_DATES.get(dates[0]) if len(dates) == 1 else None
        if (
            recorded
            and cursor is None
            and per_page == recordings.parsed(recorded)["meta"]["per_page"]
        ):
            return json_response(recordings.raw(recorded))
        days = dict.fromkeys(dates) if dates else season.game_dates()
        items = sorted((g for day in days for g in games_on(day)), key=lambda g: g["id"])
        return json_response(cursor_page(items, cursor, per_page))

    @api.get("/v1/box_scores", summary="Final box scores of every game on a date")
    def box_scores_on(date: dt.date) -> Response:
        if date in recordings.BDL_BOX_SCORES_DATES:
            return json_response(recordings.raw(recordings.BDL_BOX_SCORES_DATES[date]))
        if not season.games_on(date):
            return json_response(recordings.raw(recordings.BDL_BOX_SCORES_EMPTY))
        return json_response(memo.get(("box", date), lambda: encode(box_scores(season, date))))

    @api.get("/v1/players", summary="Every rostered player, cursor-paged by id")
    def players(cursor: Cursor = None, per_page: PerPage = 25) -> Response:
        items = memo.get(
            "players",
            lambda: [
                {**player(p), "team": team(p.club)}
                for p in sorted(season.players, key=lambda p: p.bdl_id)
            ],
        )
        return json_response(cursor_page(items, cursor, per_page))

    @api.get("/v1/player_injuries", summary="The recorded injury report")
    def injuries() -> Response:
        return json_response(recordings.raw(recordings.BDL_INJURIES))

    return api
