"""The gap backfiller (`POST /backfill-gaps`, every 4 h): re-run open gaps oldest first, each
through a run that can still fetch its data, then apply the gap alert rule."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from libs.common.errors import UnknownScraperError
from libs.common.messages import RunResult
from libs.common.sources.registry import get_source
from services.scrapers.alerts import GAPS, gap_conditions, utc
from services.scrapers.failures import after_run, all_open_gaps, params_key, save_gap
from services.scrapers.runner import ScrapeRunner, validate_params
from services.scrapers.tables import SCRAPER_FAILURES

log = logging.getLogger(__name__)

WORKFLOW = "BACKFILL_GAPS"
"""The workflow its re-runs are logged under."""


@dataclass(frozen=True)
class Rerun:
    """The run that can fill a gap."""

    scraper_name: str
    params: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.scraper_name, params_key(self.params)


def rerun_for(gap: dict[str, Any], today: dt.date) -> Rerun | str:
    """The run that can fill a gap, or why none can.

    A live-only upstream answers with the present, so a gap of a past date goes through its
    historical counterpart at the moment the failed run would have seen (its first failure);
    without a counterpart it can never be filled.
    """
    try:
        source = get_source(gap["scraper_name"])
    except UnknownScraperError:
        return f"{gap['scraper_name']} is no longer a registered scraper"
    day: dt.date | None = gap["game_date"]
    if not source.live_only or day is None or day >= today:
        try:  # a gap recorded before its params were bounded may hold ones no upstream answers
            validate_params(source, gap["params"] or {})
        except ValueError as exc:
            return f"its params can never succeed: {exc}"
        return Rerun(source.name, gap["params"] or {})
    if source.historical is None:
        return (f"{source.name} serves only the present and has no historical counterpart, "
                f"so its data of {day} can no longer be fetched")  # fmt: skip
    snapshot = {"snapshot": utc(gap["first_failed_at"]).isoformat()}
    typed = validate_params(get_source(source.historical), gap["params"] | snapshot)
    return Rerun(source.historical, typed.model_dump(mode="json"))


@dataclass
class BackfillReport:
    """What one pass did (the endpoint's answer)."""

    attempted: int = 0
    backfilled: list[str] = field(default_factory=list)
    """failure_ids closed by data."""
    still_failing: list[str] = field(default_factory=list)
    """failure_ids whose re-run failed or loaded nothing."""
    unrecoverable: list[dict[str, Any]] = field(default_factory=list)
    """Gaps found this pass that no run can fill: they stay open and are not re-run."""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    cleared_alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def _run(runner: ScrapeRunner, rerun: Rerun, failure_id: str) -> RunResult | None:
    """One re-run; None if it raised before it could run (it is logged)."""
    try:
        return await runner.run(rerun.scraper_name, rerun.params, WORKFLOW, scheduled=True)
    except Exception:
        log.exception("gap backfill raised", extra={"fields": {
            "failure_id": failure_id, "scraper_name": rerun.scraper_name}})  # fmt: skip
        return None


async def backfill_gaps(runner: ScrapeRunner, budget: int) -> BackfillReport:
    """Re-run up to `budget` open gaps, oldest first, then alert per the gap rule.

    A re-run of the same scrape closes its gap itself (`track_run`); a historical counterpart's
    run is another scrape, so its outcome is recorded on the gap here. Two gaps that need the
    same run (a live gap and its counterpart's own gap) share one.
    """
    warehouse, clock = runner.clients.warehouse, runner.clock
    today = clock.eastern().date()
    gaps = await run_in_threadpool(all_open_gaps, warehouse)
    runner.gaps.reload(gaps)
    report, lost = BackfillReport(), []
    done: dict[tuple[str, str], RunResult | None] = {}
    for gap in gaps:
        if gap["unrecoverable"]:
            continue
        try:
            rerun = rerun_for(gap, today)
        except ValueError as exc:  # a counterpart that refuses the gap's params
            rerun = f"its historical counterpart refuses its params: {exc}"
        if isinstance(rerun, str):
            lost.append(gap | {"unrecoverable": rerun})
            report.unrecoverable.append({key: gap[key] for key in ("failure_id", "scraper_name", "params")}
                                        | {"reason": rerun})  # fmt: skip
            continue
        if report.attempted == budget:
            continue
        report.attempted += 1
        if rerun.key not in done:
            done[rerun.key] = await _run(runner, rerun, gap["failure_id"])
        outcome = done[rerun.key]
        if outcome is not None and rerun.scraper_name != gap["scraper_name"]:
            row = after_run(gap, outcome, outcome.error_class, clock.now())
            await run_in_threadpool(save_gap, warehouse, runner.gaps, row)
        filled = outcome is not None and outcome.status == "success"
        (report.backfilled if filled else report.still_failing).append(gap["failure_id"])
    if lost:
        await run_in_threadpool(warehouse.upsert, SCRAPER_FAILURES, lost)
        log.warning(
            "gaps no run can fill stay open", extra={"fields": {"gaps": report.unrecoverable}}
        )
    report.alerts, report.cleared_alerts = await reconcile_gap_alerts(runner)
    return report


async def reconcile_gap_alerts(runner: ScrapeRunner) -> tuple[list[dict[str, Any]], list[str]]:
    """Read every open gap, then send the gap alerts that now hold and clear those that no
    longer do: (sent, cleared)."""
    settings = runner.settings
    gaps = await run_in_threadpool(all_open_gaps, runner.clients.warehouse)
    runner.gaps.reload(gaps)
    today = runner.clock.eastern().date()
    holding = gap_conditions(gaps, today, settings.gap_alert_days, settings.gap_alert_window_days)
    reconciled = await run_in_threadpool(runner.alerts.reconcile, GAPS, holding)
    return reconciled.sent, reconciled.cleared
