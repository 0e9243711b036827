"""Request parameter models shared by several scrapers; validated before any request is made."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class NoParams(BaseModel):
    """A scraper that takes no parameters (a whole-league list)."""

    model_config = ConfigDict(extra="forbid")


class DateParams(BaseModel):
    """A scraper run for one game date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"date": "2025-02-20"}]}
    )
    date: dt.date = Field(description="game date, YYYY-MM-DD (US Eastern calendar day)")


class TeamParams(BaseModel):
    """A scraper run for one team."""

    model_config = ConfigDict(extra="forbid")
    team_id: str = Field(min_length=1, description="the upstream's own team id")
    date: dt.date | None = Field(default=None, description="game date the snapshot belongs to")


class OptionalDateParams(BaseModel):
    """A whole-season scraper that may be narrowed to one game date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"date": "2025-02-20"}]}
    )
    date: dt.date | None = Field(
        default=None, description="keep only this game date (US Eastern); default: all dates"
    )
