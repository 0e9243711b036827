"""Drive scrapes through a running pipeline over HTTP and wait until every phase applied them.

Everything goes through the scrapers service, the process that owns the warehouse, so it
works the same against the local stack and a Cloud Run deployment.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import typer
from pydantic import ValidationError

from libs.common.messages import RunResult
from libs.common.reprocess import ReprocessRequest, ReprocessResult

PROGRESS_BATCH = 1000
"""Runs per `/admin/pipeline-progress` request (it takes at most 5,000)."""


class PipelineTimeout(RuntimeError):
    """Some runs did not reach every phase in time; the message lists them."""


@dataclass
class RunReport:
    """One scrape request and its answer: the run's result, or why no run was made."""

    scraper_name: str
    params: dict[str, Any]
    status_code: int
    result: RunResult | None
    refusal: str = ""
    """The answer when it is not a run (an unknown scraper, invalid params, a proxy's page)."""

    @property
    def execution_id(self) -> str | None:
        return self.result.execution_id if self.result else None

    @property
    def status(self) -> str:
        """The run's status; `error` when no run was made."""
        return self.result.status if self.result else "error"

    @property
    def error_message(self) -> str | None:
        return self.result.error_message if self.result else self.refusal


def awaited(runs: Iterable[RunReport]) -> list[str]:
    """The runs whose completion goes down the pipeline (a failed run's loads nothing)."""
    return [run.result.execution_id for run in runs if run.result and run.result.status != "failed"]


class PipelineClient:
    """HTTP client of the scrapers service's run and admin endpoints."""

    def __init__(self, scrapers_url: str, timeout: float = 120) -> None:
        self.http = httpx.Client(base_url=scrapers_url.rstrip("/"), timeout=timeout)

    def scrape(
        self, scraper_name: str, params: dict[str, Any], workflow: str = "MANUAL"
    ) -> RunReport:
        """Run one scraper; a failed run is reported, not raised."""
        request = {"scraper_name": scraper_name, "params": params, "workflow": workflow}
        response = self.http.post("/process", json=request)
        try:
            result = RunResult.model_validate_json(response.content)
        except ValidationError:
            return RunReport(scraper_name, params, response.status_code, None, response.text[:500])
        return RunReport(scraper_name, params, response.status_code, result)

    def pending(self, execution_ids: list[str], reprocess_id: str | None = None) -> list[str]:
        """The runs not yet applied by every phase (with `reprocess_id`: under that reprocess),
        asked PROGRESS_BATCH at a time (a season's reprocess republishes thousands)."""
        pending: list[str] = []
        for first in range(0, len(execution_ids), PROGRESS_BATCH):
            request: dict[str, Any] = {
                "execution_ids": execution_ids[first : first + PROGRESS_BATCH]
            }
            if reprocess_id is not None:
                request["reprocess_id"] = reprocess_id
            response = self.http.post("/admin/pipeline-progress", json=request)
            response.raise_for_status()
            pending += response.json()["pending"]
        return pending

    def republish_unfinished(self, execution_ids: list[str]) -> list[str]:
        """Republish, through cleanup, those of these runs that did not reach every phase: a
        run an earlier backfill left mid-pipeline may have had its event die with that stack
        (the emulator keeps messages in memory), and would otherwise be waited on forever."""
        republished: list[str] = []
        unfinished = self.pending(execution_ids)
        for first in range(0, len(unfinished), PROGRESS_BATCH):
            request = {"execution_ids": unfinished[first : first + PROGRESS_BATCH]}
            response = self.http.post("/run-cleanup", json=request)
            response.raise_for_status()
            republished += response.json()["republished_execution_ids"]
        return republished

    def wait(self, runs: list[RunReport], timeout: float = 120) -> float:
        """Block until every run that produced a message went through all phases."""
        return self.wait_applied(awaited(runs), timeout)

    def wait_applied(
        self, execution_ids: list[str], timeout: float = 120, reprocess_id: str | None = None
    ) -> float:
        """Block until every run was applied by all phases (under `reprocess_id` if given);
        the seconds it took."""
        ids = list(execution_ids)
        started = time.monotonic()
        while ids and (ids := self.pending(ids, reprocess_id)):
            if time.monotonic() - started > timeout:
                raise PipelineTimeout(
                    f"{len(ids)} runs not applied after {timeout:.0f}s: {ids[:5]}"
                )
            time.sleep(0.05)
        return time.monotonic() - started

    def reprocess(self, request: ReprocessRequest) -> ReprocessResult:
        """Republish the completions of one date's raw files (`POST /admin/reprocess`)."""
        response = self.http.post("/admin/reprocess", json=request.model_dump(mode="json"))
        response.raise_for_status()
        return ReprocessResult.model_validate(response.json())

    def table_counts(self, date_from: dt.date, date_to: dt.date) -> dict[str, int | None]:
        """Rows per raw and analytics table over a date range."""
        response = self.http.get(
            "/admin/table-counts", params={"from": date_from.isoformat(), "to": date_to.isoformat()}
        )
        response.raise_for_status()
        return dict(response.json())

    def unmatched_names(self, date_from: dt.date, date_to: dt.date) -> list[dict[str, Any]]:
        """Prop names of a date range that matched no player: game_date, source, name."""
        response = self.http.get(
            "/admin/players/unmatched",
            params={"from": date_from.isoformat(), "to": date_to.isoformat()},
        )
        response.raise_for_status()
        return list(response.json()["names"])

    def gaps(self, include_closed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Failed scrapes (gaps), the last failed first; open ones unless `include_closed`."""
        params = {"include_closed": include_closed, "limit": limit}
        response = self.http.get("/admin/gaps", params=params)
        response.raise_for_status()
        return list(response.json()["gaps"])

    def dismiss_gap(self, failure_id: str, reason: str) -> dict[str, Any]:
        """Close a gap no run can fill: `{"gap": ..., "cleared_alerts": [...]}`."""
        response = self.http.post(f"/admin/gaps/{failure_id}/dismiss", json={"reason": reason})
        response.raise_for_status()
        return dict(response.json())

    def executions(self, **filters: Any) -> list[dict[str, Any]]:
        """Every run matching the filters of `/admin/recent-executions` (all pages)."""
        found: list[dict[str, Any]] = []
        params = {k: v for k, v in filters.items() if v is not None} | {"limit": 1000, "offset": 0}
        while True:
            response = self.http.get("/admin/recent-executions", params=params)
            response.raise_for_status()
            page = response.json()
            found += page["executions"]
            if not page["has_more"]:
                return found
            params["offset"] += params["limit"]

    def close(self) -> None:
        self.http.close()


Answer = TypeVar("Answer")


def ask_scrapers(command: str, url: str, call: Callable[[PipelineClient], Answer]) -> Answer:
    """One CLI command's call of the scrapers service; on failure it prints why (the service's
    own words for a refusal) and exits 1."""
    client = PipelineClient(url)
    try:
        return call(client)
    except httpx.HTTPError as exc:
        reason = refusal(exc.response) if isinstance(exc, httpx.HTTPStatusError) else str(exc)
        typer.echo(f"{command}: {reason} (scrapers service {url})", err=True)
        raise typer.Exit(1) from None
    finally:
        client.close()


def refusal(response: httpx.Response) -> str:
    """The service's reason for a 4xx/5xx: its `detail`, a validation error as `field: why`."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return response.text
    if isinstance(detail, list):
        return "; ".join(
            f"{item['loc'][-1]}: {item['msg']}" if isinstance(item, dict) and item.get("loc")
            else str(item)
            for item in detail
        )  # fmt: skip
    return str(detail)
