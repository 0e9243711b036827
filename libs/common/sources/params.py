"""Request parameter models shared by several scrapers; validated before any request is made.

Every value is bounded to what an upstream can answer (a game date in the league's range, an
id of a real team), so a request that could never succeed is refused with a 422 naming the
field, instead of becoming a failed run and a gap the backfiller retries forever.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.common.messages import GameDate
from libs.common.teams import TEAMS

ESPN_TEAM_IDS = tuple(str(team.espn_id) for team in TEAMS)
"""ESPN's ids of the 30 teams: its roster endpoint answers 404 for any other."""


class NoParams(BaseModel):
    """A scraper that takes no parameters (a whole-league list)."""

    model_config = ConfigDict(extra="forbid")


class DateParams(BaseModel):
    """A scraper run for one game date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"date": "2025-02-20"}]}
    )
    date: GameDate = Field(
        description="game date, YYYY-MM-DD (US Eastern calendar day), 1946-11-01 to a year ahead"
    )


class TeamParams(BaseModel):
    """A scraper run for one team, by ESPN's id of it (the only upstream with these params)."""

    model_config = ConfigDict(extra="forbid")
    team_id: str = Field(
        min_length=1, max_length=2, description="ESPN's team id, 1 to 30 (libs/common/teams.py)"
    )
    date: GameDate | None = Field(default=None, description="game date the snapshot belongs to")

    @field_validator("team_id")
    @classmethod
    def _a_team(cls, team_id: str) -> str:
        if team_id not in ESPN_TEAM_IDS:
            raise ValueError(f"'{team_id}' is not ESPN's id of an NBA team; one of 1 to 30")
        return team_id


class OptionalDateParams(BaseModel):
    """A whole-season scraper that may be narrowed to one game date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"date": "2025-02-20"}]}
    )
    date: GameDate | None = Field(
        default=None, description="keep only this game date (US Eastern); default: all dates"
    )
