"""The reprocess contract: which scrapers' files it covers, and `POST /admin/reprocess`'s shapes.

A reprocess republishes the phase-1 completions of raw files already in the bucket, so a
parser fix reaches the warehouse without asking any upstream again. The scrapers service
serves it and the CLI drives it; both read the models here, so no field is declared twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from libs.common.messages import GameDate
from libs.common.sources.registry import SOURCES

REPROCESS_WORKFLOW = "REPROCESS"
"""`workflow` of a republished completion: the run is old, the load is new."""


def dated_scrapers() -> list[str]:
    """Scrapers whose raw files can sit in a game-date folder: those whose params name a date.

    A run without a date (the league's players; a roster or the season schedule asked for
    no date) stores under `undated/`, reached by `undated` instead.
    """
    return [name for name, source in SOURCES.items() if "date" in source.params_model.model_fields]


def check_scrapers(names: list[str], undated: bool = False) -> list[str]:
    """`names` if a reprocess can cover each; ValueError naming the problem otherwise."""
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown scrapers {unknown}; known: {', '.join(sorted(SOURCES))}")
    never_dated = [name for name in names if name not in dated_scrapers()]
    if never_dated and not undated:
        raise ValueError(
            f"{', '.join(never_dated)}: files never stored by game date; add --undated (API: "
            '"undated": true) to reprocess the undated files fetched on each date'
        )
    return names


def default_scrapers(undated: bool = False) -> list[str]:
    """Every scraper whose files a reprocess reaches: the dated ones, and with `undated` all."""
    return list(SOURCES) if undated else dated_scrapers()


class ReprocessRequest(BaseModel):
    """Republish the completions of one game date's raw files."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "date": "2025-02-20",
                    "scrapers": ["bdl_games", "bdl_box_scores"],
                    "dry_run": False,
                    "undated": False,
                    "reprocess_id": "3f1c2b7e-8d4a-4c61-9e0b-5a6f7d8e9c01",
                }
            ]
        },
    )

    date: GameDate = Field(description="game date whose raw files are republished")
    scrapers: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="registry names (default: every scraper whose files are dated, or with "
        "`undated` every scraper)",
    )
    undated: bool = Field(
        False,
        description="also the files stored without a game date (`undated/`) that were fetched "
        "on `date` (UTC), e.g. bdl_players",
    )
    dry_run: bool = Field(False, description="list what would be republished, publish nothing")
    reprocess_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="one per reprocess invocation: the processors apply each file once more "
        "under it; give the same id for every date of one invocation",
    )


class RawFileRun(BaseModel):
    """A raw file and the run that wrote it."""

    execution_id: str
    scraper_name: str
    gcs_path: str


class FileProblem(BaseModel):
    """A file of the date that could not be republished, and why."""

    gcs_path: str
    error: str


class ReprocessResult(BaseModel):
    """What a reprocess of one date republished (or, on a dry run, would have)."""

    date: dt.date
    reprocess_id: str
    dry_run: bool
    republished: list[RawFileRun] = Field(
        description="completions published (on a dry run: that would be), in file-name order"
    )
    errors: list[FileProblem] = Field(description="files that cannot be read or have no meta")
