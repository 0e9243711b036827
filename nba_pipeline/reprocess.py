"""Reprocess a date range: republish the completions of raw files already in the bucket.

After a parser fix the stored files hold all the fixed parser needs, so nothing is asked of
any upstream (no request, no API credit). One `reprocess_id` covers the whole range: the
processors apply each file once more under it, and the wait asks for that id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from libs.common.reprocess import (
    FileProblem,
    RawFileRun,
    ReprocessRequest,
    ReprocessResult,
    check_scrapers,
    default_scrapers,
)
from nba_pipeline.backfill import dates
from nba_pipeline.pipeline import PipelineClient


@dataclass
class ReprocessReport:
    """What a reprocess of a range republished and could not read."""

    reprocess_id: str
    dry_run: bool
    results: list[ReprocessResult] = field(default_factory=list)

    @property
    def republished(self) -> list[RawFileRun]:
        return [run for result in self.results for run in result.republished]

    @property
    def errors(self) -> list[FileProblem]:
        return [problem for result in self.results for problem in result.errors]

    def per_scraper(self) -> dict[str, int]:
        """Files republished per scraper, by name."""
        return dict(sorted(Counter(run.scraper_name for run in self.republished).items()))


def reprocess(
    client: PipelineClient,
    start: dt.date,
    end: dt.date,
    scrapers: list[str] | None = None,
    dry_run: bool = False,
    reprocess_id: str | None = None,
    on_date: Callable[[dt.date], None] | None = None,
    undated: bool = False,
) -> ReprocessReport:
    """One `POST /admin/reprocess` per date, in order, under one reprocess_id.

    ValueError for a scraper a reprocess cannot cover, before any request is made.
    """
    names = check_scrapers(scrapers or default_scrapers(undated), undated)
    report = ReprocessReport(reprocess_id or str(uuid.uuid4()), dry_run)
    for day in dates(start, end):
        request = ReprocessRequest(
            date=day,
            scrapers=names,
            dry_run=dry_run,
            undated=undated,
            reprocess_id=uuid.UUID(report.reprocess_id),
        )
        report.results.append(client.reprocess(request))
        if on_date is not None:
            on_date(day)
    return report
