"""NBA.com as replayed: the CDN season schedule and team pages with the roster in `__NEXT_DATA__`.

Generated team pages reuse the recorded page (Warriors): its `<head>` with the team's names
swapped in, an empty `__next` root, and a `__NEXT_DATA__` whose team block is this team's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response

from nba_pipeline.replay import recordings
from nba_pipeline.replay.http import Memo, encode, html_response, json_response, upstream_error
from nba_pipeline.replay.league import BY_NBA_ID, EASTERN, Club
from nba_pipeline.replay.season import SEASON_START, Game, Player, Season, Side

CDN_PREFIX = "/nbacom_cdn"
WEB_PREFIX = "/nbacom_web"
SEASON_LABEL = f"{SEASON_START.year}-{(SEASON_START.year + 1) % 100:02d}"
WEEK_ONE = SEASON_START - dt.timedelta(days=SEASON_START.weekday())
NEXT_DATA = re.compile(
    r'(<script id="__NEXT_DATA__" type="application/json"[^>]*>)(.*?)(</script>)', re.S
)
RECORDED_TEAM = ("Golden State Warriors", "1610612744", "/warriors")
"""How the recorded page names its team; swapped for the requested team's names."""
BROADCASTS = ("nationalTvBroadcasters", "nationalRadioBroadcasters", "nationalOttBroadcasters",
              "homeTvBroadcasters", "homeRadioBroadcasters", "homeOttBroadcasters",
              "awayTvBroadcasters", "awayRadioBroadcasters", "awayOttBroadcasters",
              "intlRadioBroadcasters", "intlTvBroadcasters", "intlOttBroadcasters")  # fmt: skip


def _stamp(moment: dt.datetime) -> str:
    """NBA.com writes wall-clock times with a literal `Z`, whatever their zone."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_team(side: Side) -> dict[str, Any]:
    club = side.club
    return {
        "teamId": club.nba_id,
        "teamName": club.name,
        "teamCity": club.city,
        "teamTricode": club.abbr,
        "teamSlug": club.nbacom_slug,
        "wins": side.wins,
        "losses": side.losses,
        "score": side.score,
        "seed": 0,
    }


def schedule_game(g: Game, sequence: int) -> dict[str, Any]:
    home, away = g.home.club, g.away.club
    eastern = g.start.astimezone(EASTERN)
    midnight = dt.datetime.combine(g.date, dt.time(0), EASTERN).astimezone(dt.UTC)
    week = (g.date - WEEK_ONE).days // 7 + 1
    return {
        "gameId": g.nba_id,
        "gameCode": f"{g.date:%Y%m%d}/{away.abbr}{home.abbr}",
        "gameStatus": 3,
        "gameStatusText": "Final",
        "gameSequence": sequence,
        "gameDateEst": f"{g.date.isoformat()}T00:00:00Z",
        "gameTimeEst": f"1900-01-01T{eastern:%H:%M:%S}Z",
        "gameDateTimeEst": _stamp(eastern),
        "gameDateUTC": _stamp(midnight),
        "gameTimeUTC": f"1900-01-01T{g.start:%H:%M:%S}Z",
        "gameDateTimeUTC": _stamp(g.start),
        "awayTeamTime": _stamp(g.start.astimezone(away.zone)),
        "homeTeamTime": _stamp(g.start.astimezone(home.zone)),
        "day": f"{g.date:%a}",
        "monthNum": g.date.month,
        "weekNumber": week,
        "weekName": f"Week {week}",
        "ifNecessary": False,
        "seriesGameNumber": "",
        "gameLabel": "",
        "gameSubLabel": "",
        "seriesText": "",
        "arenaName": home.arena,
        "arenaState": home.arena_state,
        "arenaCity": home.arena_city,
        "postponedStatus": "N",
        "branchLink": "",
        "gameSubtype": "",
        "isNeutral": False,
        "broadcasters": {name: [] for name in BROADCASTS},
        "homeTeam": schedule_team(g.home),
        "awayTeam": schedule_team(g.away),
        "pointsLeaders": [],
    }


def schedule(season: Season) -> dict[str, Any]:
    """The whole season, one `gameDates` entry per game day, as scheduleLeagueV2_1.json has it."""
    by_date: dict[dt.date, list[Game]] = defaultdict(list)
    for g in season.games:
        by_date[g.date].append(g)
    recorded = recordings.parsed(recordings.NBAC_SCHEDULE_2025_26)
    return {
        "meta": {
            "version": 1,
            "request": f"http://nba.cloud/league/00/{SEASON_LABEL}/scheduleleaguev2?Format=json",
            "time": "2025-04-14T12:00:00.000Z",
        },
        "leagueSchedule": {
            "seasonYear": SEASON_LABEL,
            "leagueId": "00",
            "gameDates": [
                {
                    "gameDate": f"{day:%m/%d/%Y} 00:00:00",
                    "games": [schedule_game(g, n) for n, g in enumerate(games, 1)],
                }
                for day, games in sorted(by_date.items())
            ],
            "weeks": [],
            "broadcasterList": recorded["leagueSchedule"]["broadcasterList"],
        },
    }


@dataclass(frozen=True)
class PageTemplate:
    """The recorded team page cut around its `__NEXT_DATA__` JSON."""

    head: str
    open_tag: str
    data: str
    tail: str

    @classmethod
    def recorded(cls) -> PageTemplate:
        html = recordings.raw(recordings.NBAC_TEAM_PAGE_GSW).decode()
        match = NEXT_DATA.search(html)
        if match is None:
            raise ValueError("the recorded team page has no __NEXT_DATA__")
        head = html[: html.index("</head>")]
        return cls(head, match.group(1), match.group(2), match.group(3) + html[match.end() :])

    def render(self, club: Club, data: dict[str, Any]) -> str:
        head = self.head
        for old, new in zip(
            RECORDED_TEAM, (club.full_name, str(club.nba_id), f"/{club.nbacom_slug}"), strict=True
        ):
            head = head.replace(old, new)
        script = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
        return f'{head}</head><body><div id="__next"></div>{self.open_tag}{script}{self.tail}'


def roster_entry(p: Player) -> dict[str, Any]:
    return {
        "TeamID": p.club.nba_id,
        "SEASON": str(SEASON_START.year),
        "LeagueID": "00",
        "PLAYER": p.nba_name,
        "NICKNAME": p.first_name,
        "PLAYER_SLUG": p.slug,
        "NUM": p.jersey,
        "POSITION": p.position,
        "HEIGHT": p.height,
        "WEIGHT": str(p.weight),
        "BIRTH_DATE": p.birth_date.strftime("%b %d, %Y").upper(),
        "AGE": p.age,
        "EXP": str(p.experience) if p.experience else "R",
        "SCHOOL": p.college,
        "PLAYER_ID": p.nba_id,
        "HOW_ACQUIRED": f"#{p.draft_number} Pick in {p.draft_year} Draft"
        if p.draft_year
        else "Signed",
    }


def team_data(
    template: PageTemplate, season: Season, club: Club, path: list[str]
) -> dict[str, Any]:
    """The recorded `__NEXT_DATA__` with its team block replaced by this team's."""
    data: dict[str, Any] = json.loads(template.data)
    recorded = data["props"]["pageProps"]["team"]
    wins, losses = season.final_record(club)
    data["query"]["props"] = path
    data["props"]["pageProps"]["layout"]["analytics"]["page"]["content"] = {
        "teamName": club.abbr,
        "teamId": str(club.nba_id),
    }
    data["props"]["pageProps"]["team"] = {
        **recorded,
        "id": str(club.nba_id),
        "slug": club.nbacom_slug,
        "info": {
            **recorded["info"],
            "TEAM_ID": club.nba_id,
            "SEASON_YEAR": SEASON_LABEL,
            "TEAM_CITY": club.city,
            "TEAM_NAME": club.name,
            "TEAM_ABBREVIATION": club.abbr,
            "TEAM_CONFERENCE": club.conference,
            "TEAM_DIVISION": club.division,
            "TEAM_CODE": club.nbacom_slug,
            "TEAM_SLUG": club.nbacom_slug,
            "W": wins,
            "L": losses,
            "PCT": round(wins / (wins + losses), 3),
        },
        "ranks": {**recorded["ranks"], "TEAM_ID": club.nba_id},
        "background": {
            **recorded["background"],
            "TEAM_ID": club.nba_id,
            "ABBREVIATION": club.abbr,
            "NICKNAME": club.name,
            "CITY": club.city,
            "ARENA": club.arena,
        },
        "social": [],
        "awards": {"champ": [], "conf": [], "div": []},
        "hof": [],
        "retired": [],
        "roster": [roster_entry(p) for p in season.roster(club)],
        "coaches": [],
        "playerAwards": {},
        "fantasyNews": [],
        "schedule": [],
        "links": {
            key: value.replace("warriors", club.nbacom_slug)
            for key, value in recorded["links"].items()
        },
    }
    return data


def routers(season: Season) -> list[APIRouter]:
    cdn = APIRouter(prefix=CDN_PREFIX, tags=["nbacom"])
    web = APIRouter(prefix=WEB_PREFIX, tags=["nbacom"])
    memo = Memo()

    @cdn.get("/static/json/staticData/scheduleLeagueV2_1.json", summary="The whole season schedule")
    def schedule_file() -> Response:
        return json_response(memo.get("schedule", lambda: encode(schedule(season))))

    def page(team_id: int, slug: str, *rest: str) -> Response:
        if team_id in recordings.NBAC_TEAM_PAGES:
            return html_response(recordings.raw(recordings.NBAC_TEAM_PAGES[team_id]))
        club = BY_NBA_ID.get(team_id)
        if club is None:
            raise upstream_error(WEB_PREFIX, 404, f"team {team_id} not found")
        path = [str(team_id), slug, *rest]
        template = memo.get("template", PageTemplate.recorded)
        return html_response(
            memo.get(
                ("page", *path),
                lambda: encode(template.render(club, team_data(template, season, club, path))),
            )
        )

    @web.get("/team/{team_id}/{slug}", summary="A team page (HTML), roster in __NEXT_DATA__")
    def team_page(team_id: int, slug: str) -> Response:
        return page(team_id, slug)

    @web.get("/team/{team_id}/{slug}/roster", summary="The same page, roster tab")
    def team_roster_page(team_id: int, slug: str) -> Response:
        return page(team_id, slug, "roster")

    return [cdn, web]
