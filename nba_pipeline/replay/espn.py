"""ESPN site API v2 as replayed: the NBA scoreboard of a date and a team with its roster.

ESPN spells some teams its own way (`GS`, `NY`, `UTAH`) and takes a team by id or abbreviation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from nba_pipeline.replay import recordings
from nba_pipeline.replay.http import Memo, encode, json_response, upstream_error
from nba_pipeline.replay.league import BY_ESPN, Club
from nba_pipeline.replay.season import SEASON_START, Game, Player, Season, Side, StatLine

PREFIX = "/espn"
BASE = "/apis/site/v2/sports/basketball/nba"


def final(periods: int) -> dict[str, Any]:
    """A finished game's status; overtime shows in the detail (`Final/OT`)."""
    detail = "Final" if periods == 4 else "Final/OT" if periods == 5 else f"Final/{periods - 4}OT"
    return {
        "clock": 0.0,
        "displayClock": "0.0",
        "period": periods,
        "type": {
            "id": "3",
            "name": "STATUS_FINAL",
            "state": "post",
            "completed": True,
            "description": "Final",
            "detail": detail,
            "shortDetail": detail,
        },
    }


REGULAR_SEASON = {"id": "2", "type": 2, "name": "Regular Season", "abbreviation": "reg"}
POSITIONS = {"G": ("5", "Guard"), "F": ("6", "Forward"), "C": ("9", "Center")}
LEADERS = (("points", "Points", "Pts", "pts"), ("rebounds", "Rebounds", "Reb", "reb"),
           ("assists", "Assists", "Ast", "ast"))  # fmt: skip
TEAM_STATS = (("rebounds", "REB", "reb"), ("assists", "AST", "ast"),
              ("fieldGoalsAttempted", "FGA", "fga"), ("fieldGoalsMade", "FGM", "fgm"), ("freeThrowsAttempted", "FTA", "fta"),
              ("freeThrowsMade", "FTM", "ftm"), ("points", "PTS", "pts"),
              ("threePointFieldGoalsAttempted", "3PA", "fg3a"),
              ("threePointFieldGoalsMade", "3PM", "fg3m"))  # fmt: skip


def espn_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def league() -> dict[str, Any]:
    """The recorded 2024-25 league entry (calendar included), as in the regular season."""
    recorded = recordings.parsed(recordings.ESPN_SCOREBOARD_2025_02_14)["leagues"][0]
    return {**recorded, "season": {**recorded["season"], "type": REGULAR_SEASON}}


def team_ref(club: Club) -> dict[str, Any]:
    """The team object ESPN embeds in scoreboards and team pages."""
    abbr = club.espn_abbr.lower()
    return {
        "id": str(club.espn_id),
        "uid": f"s:40~l:46~t:{club.espn_id}",
        "location": club.city,
        "name": club.name,
        "abbreviation": club.espn_abbr,
        "displayName": club.full_name,
        "shortDisplayName": club.name,
        "isActive": True,
        "logo": f"https://a.espncdn.com/i/teamlogos/nba/500/scoreboard/{abbr}.png",
    }


def athlete_ref(p: Player) -> dict[str, Any]:
    return {
        "id": str(p.espn_id),
        "fullName": p.full_name,
        "displayName": p.full_name,
        "shortName": p.short_name,
        "jersey": p.jersey,
        "position": {"abbreviation": p.position[0]},
        "team": {"id": str(p.club.espn_id)},
        "active": True,
    }


def _leaders(lines: tuple[StatLine, ...], club: Club) -> list[dict[str, Any]]:
    out = []
    for name, display, short, stat in LEADERS:
        best = max(lines, key=lambda line: getattr(line, stat))
        value = getattr(best, stat)
        out.append(
            {
                "name": name,
                "displayName": display,
                "shortDisplayName": short,
                "abbreviation": short,
                "leaders": [
                    {
                        "displayValue": str(value),
                        "value": float(value),
                        "athlete": athlete_ref(best.player),
                        "team": {"id": str(club.espn_id)},
                    }
                ],
            }
        )
    return out


def competitor(
    side: Side, home: bool, won: bool, lines: tuple[StatLine, ...], quarters: list[int]
) -> dict[str, Any]:
    club = side.club
    return {
        "id": str(club.espn_id),
        "uid": f"s:40~l:46~t:{club.espn_id}",
        "type": "team",
        "order": 0 if home else 1,
        "homeAway": "home" if home else "away",
        "winner": won,
        "team": team_ref(club),
        "score": str(side.score),
        "linescores": [
            {"value": float(q), "displayValue": str(q), "period": n}
            for n, q in enumerate(quarters, 1)
        ],
        "statistics": [
            {
                "name": name,
                "abbreviation": abbr,
                "displayValue": str(sum(getattr(x, stat) for x in lines)),
            }
            for name, abbr, stat in TEAM_STATS
        ],
        "leaders": _leaders(lines, club),
        "records": [
            {
                "name": "overall",
                "abbreviation": "Game",
                "type": "total",
                "summary": f"{side.wins}-{side.losses}",
            }
        ],
    }


def event(season: Season, g: Game) -> dict[str, Any]:
    home, away = g.home.club, g.away.club
    event_id, when = str(g.espn_id), espn_time(g.start)
    lines, quarters = season.box_score(g), season.linescore(g)
    home_won = g.home.score > g.away.score
    return {
        "id": event_id,
        "uid": f"s:40~l:46~e:{event_id}",
        "date": when,
        "name": f"{away.full_name} at {home.full_name}",
        "shortName": f"{away.espn_abbr} @ {home.espn_abbr}",
        "season": {"year": SEASON_START.year + 1, "type": 2, "slug": "regular-season"},
        "competitions": [
            {
                "id": event_id,
                "uid": f"s:40~l:46~e:{event_id}~c:{event_id}",
                "date": when,
                "attendance": 15_000 + (g.index * 7919) % 5_000,
                "type": {"id": "1", "abbreviation": "STD"},
                "timeValid": True,
                "neutralSite": False,
                "conferenceCompetition": home.conference == away.conference,
                "playByPlayAvailable": True,
                "recent": False,
                "venue": {
                    "id": str(1800 + home.espn_id),
                    "fullName": home.arena,
                    "address": {"city": home.arena_city, "state": home.arena_state},
                    "indoor": True,
                },
                "competitors": [
                    competitor(g.home, True, home_won, lines[0], quarters[0]),
                    competitor(g.away, False, not home_won, lines[1], quarters[1]),
                ],
                "notes": [],
                "status": final(g.periods),
                "broadcasts": [],
                "format": {"regulation": {"periods": 4}},
                "startDate": when,
                "geoBroadcasts": [],
                "highlights": [],
            }
        ],
        "links": [],
        "status": final(g.periods),
    }


def athlete(p: Player) -> dict[str, Any]:
    pid = str(p.espn_id)
    position_id, position = POSITIONS[p.position[0]]
    feet, inches = divmod(p.height_in, 12)
    return {
        "id": pid,
        "uid": f"s:40~l:46~a:{pid}",
        "guid": str(uuid.UUID(hashlib.md5(f"espn:{pid}".encode()).hexdigest())),
        "type": "basketball",
        "alternateIds": {"sdr": pid},
        "firstName": p.first_name,
        "lastName": p.last_name,
        "fullName": p.full_name,
        "displayName": p.full_name,
        "shortName": p.short_name,
        "weight": float(p.weight),
        "displayWeight": f"{p.weight} lbs",
        "height": float(p.height_in),
        "displayHeight": f"{feet}' {inches}\"",
        "age": p.age,
        "dateOfBirth": f"{p.birth_date.isoformat()}T07:00Z",
        "debutYear": p.draft_year,
        "links": [],
        "birthPlace": {"country": p.country},
        "citizenship": p.country,
        "college": {"name": p.college, "shortName": p.college},
        "slug": p.slug,
        "headshot": {
            "href": f"https://a.espncdn.com/i/headshots/nba/players/full/{pid}.png",
            "alt": p.full_name,
        },
        "jersey": p.jersey,
        "position": {
            "id": position_id,
            "name": position,
            "displayName": position,
            "abbreviation": p.position[0],
            "leaf": True,
            "parent": {},
        },
        "injuries": [],
        "linked": True,
        "teams": [{}],
        "experience": {"years": p.experience},
        "active": True,
        "status": {"id": "1", "name": "Active", "type": "active", "abbreviation": "Active"},
    }


def team(season: Season, club: Club, roster: bool) -> dict[str, Any]:
    wins, losses = season.final_record(club)
    body = {
        **{k: v for k, v in team_ref(club).items() if k != "logo"},
        "slug": club.long_slug,
        "logos": [
            {
                "href": f"https://a.espncdn.com/i/teamlogos/nba/500/{club.espn_abbr.lower()}.png",
                "width": 500,
                "height": 500,
                "alt": "",
                "rel": ["full", "default"],
            }
        ],
        "record": {
            "items": [
                {
                    "description": "Overall Record",
                    "type": "total",
                    "summary": f"{wins}-{losses}",
                    "stats": [
                        {"name": "wins", "value": float(wins)},
                        {"name": "losses", "value": float(losses)},
                    ],
                }
            ]
        },
        "groups": {"id": club.division, "isConference": False},
        "links": [],
        "nextEvent": [],
        "standingSummary": "",
    }
    if roster:
        body["athletes"] = [athlete(p) for p in season.roster(club)]
    return {"team": body}


def router(season: Season) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["espn"])
    memo = Memo()

    @api.get(f"{BASE}/scoreboard", summary="Every game of one date")
    def scoreboard(dates: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None) -> Response:
        if dates is None:
            return json_response({"leagues": [league()], "events": []})
        try:
            day = dt.datetime.strptime(dates, "%Y%m%d").date()
        except ValueError:
            raise upstream_error(PREFIX, 400, f"invalid dates {dates}") from None
        if day in recordings.ESPN_SCOREBOARD_DATES:
            return json_response(recordings.raw(recordings.ESPN_SCOREBOARD_DATES[day]))
        return json_response(
            memo.get(
                ("scoreboard", day),
                lambda: encode(
                    {
                        "leagues": [league()],
                        "events": [event(season, g) for g in season.games_on(day)],
                    }
                ),
            )
        )

    @api.get(f"{BASE}/teams/{{team_id}}", summary="A team, with its athletes when enable=roster")
    def team_page(team_id: str, enable: str = "") -> Response:
        with_roster = "roster" in enable.split(",")
        if with_roster and team_id in recordings.ESPN_TEAMS:
            return json_response(recordings.raw(recordings.ESPN_TEAMS[team_id]))
        club = BY_ESPN.get(team_id.lower())
        if club is None:
            raise upstream_error(PREFIX, 404, f"team {team_id} not found")
        return json_response(
            memo.get(
                ("team", club.abbr, with_roster), lambda: encode(team(season, club, with_roster))
            )
        )

    return api
