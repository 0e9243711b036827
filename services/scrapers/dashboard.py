"""`GET /dashboard`: one HTML page an operator reads at a glance; results cached 60 s."""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from libs.common.audit import final_runs, query_processed
from libs.common.auth import require_admin_identity
from libs.common.clock import Clock, eastern_date
from libs.common.deps import WarehouseDep, app_state
from libs.common.messages import Phase
from libs.common.players import unmatched_per_day
from libs.common.quota import QUOTA_HEADERS
from libs.common.sources.registry import SOURCES
from libs.common.sources.upstreams import UPSTREAMS
from libs.common.warehouse.base import TableNotFoundError, Warehouse
from services.scrapers.dead_letters import DeadLetterCounter, dead_letter_depths
from services.scrapers.deps import ClockDep, DeadLettersDep
from services.scrapers.failures import OPEN

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
REFRESH_SECONDS = 60
UNMATCHED_DAYS = 7
"""Game days (US Eastern, today included) the unmatched prop names are counted for."""

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
header{background:#1f2933;color:#fff;padding:.8rem 1.5rem}header h1{margin:0;font-size:1.3rem}
header p{margin:.2rem 0 0;color:#cbd2d9;font-size:.85rem}main{padding:1rem 1.5rem}
h2{font-size:1.05rem;margin:1.2rem 0 .5rem}.row{display:flex;gap:1.5rem;flex-wrap:wrap}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:.3rem .7rem;text-align:left;font-size:.85rem;border-bottom:1px solid #e4e7eb}
th{background:#e4e7eb;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{background:#d3f4d6}.warn{background:#fff0b3}.bad{background:#fbd0d0}.idle{color:#7b8794}
.legend span{display:inline-block;padding:0 .5rem;margin-right:.3rem;border-radius:3px;font-size:.8rem}
"""


def rate_class(rate: float | None) -> str:
    """Colour of a success rate: green, amber, red, grey when nothing ran."""
    if rate is None:
        return "idle"
    return "ok" if rate >= 0.95 else "warn" if rate >= 0.8 else "bad"


BREAKER_CLASS = {"closed": "ok", "half-open": "warn", "open": "bad"}
"""Colour of a circuit breaker state."""


def scraper_stats(warehouse: Warehouse, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Last run, 24 h and 7 d success rates and rows per scraper."""
    rows = warehouse.query(
        "SELECT scraper_name, "
        "max(finished_at) AS last_run, "
        "max_by(status, finished_at) AS last_status, "
        "sum(CASE WHEN finished_at >= @day THEN 1 ELSE 0 END) AS runs_24h, "
        "sum(CASE WHEN finished_at >= @day AND status <> 'failed' THEN 1 ELSE 0 END) AS ok_24h, "
        "count(*) AS runs_7d, sum(CASE WHEN status <> 'failed' THEN 1 ELSE 0 END) AS ok_7d, "
        "sum(CASE WHEN finished_at >= @day THEN record_count ELSE 0 END) AS records_24h "
        f"FROM {final_runs('finished_at >= @week')} GROUP BY scraper_name",
        {"day": now - dt.timedelta(days=1), "week": now - dt.timedelta(days=7)},
    )
    return {row["scraper_name"]: row for row in rows}


@dataclass(frozen=True)
class Credits:
    """An upstream's usage quota as its runs' responses reported it over the last 7 days."""

    remaining: int | None
    used: int | None
    as_of: dt.datetime | None
    spent_24h: int
    spent_7d: int
    days_left: float | None
    """At the credits-per-day spent since the window's first run (at least one day)."""
    daily: list[tuple[dt.date, int]]
    """Credits left at the end of each UTC day that had a run."""

    @property
    def css(self) -> str:
        """Red under 10% of the plan left, amber under 25%, grey without data."""
        if self.remaining is None:
            return "idle"
        plan = self.remaining + (self.used or 0)
        share = self.remaining / plan if plan else 0.0
        return "bad" if share < 0.1 else "warn" if share < 0.25 else "ok"


def credit_stats(warehouse: Warehouse, now: dt.datetime) -> dict[str, Credits]:
    """Credits left, spent and their trend per upstream that reports a quota (`QUOTA_HEADERS`)."""
    rows = warehouse.query(
        "SELECT scraper_name, finished_at, quota_remaining, quota_used, quota_cost "
        f"FROM {final_runs('finished_at >= @week')} "
        "WHERE quota_remaining IS NOT NULL OR quota_cost IS NOT NULL ORDER BY finished_at",
        {"week": now - dt.timedelta(days=7)},
    )
    upstream_of = {name: source.upstream for name, source in SOURCES.items()}
    stats = {}
    for upstream in QUOTA_HEADERS:
        runs = [r for r in rows if upstream_of.get(r["scraper_name"]) == upstream]
        reported = [r for r in runs if r["quota_remaining"] is not None]
        last = reported[-1] if reported else None
        spent_7d = sum(r["quota_cost"] or 0 for r in runs)
        days = max(1.0, (now - runs[0]["finished_at"]).total_seconds() / 86400) if runs else 1.0
        daily = {r["finished_at"].astimezone(dt.UTC).date(): r["quota_remaining"] for r in reported}
        stats[upstream] = Credits(
            remaining=last["quota_remaining"] if last else None,
            used=last["quota_used"] if last else None,
            as_of=last["finished_at"] if last else None,
            spent_24h=sum(
                r["quota_cost"] or 0 for r in runs if r["finished_at"] >= now - dt.timedelta(days=1)
            ),
            spent_7d=spent_7d,
            days_left=last["quota_remaining"] / (spent_7d / days) if last and spent_7d else None,
            daily=sorted(daily.items()),
        )
    return stats


def collect(
    warehouse: Warehouse, now: dt.datetime, dead_letters: DeadLetterCounter | None = None
) -> dict[str, Any]:
    """Everything the page shows, from the warehouse and the DLQ subscriptions."""
    gaps = warehouse.query(
        "SELECT scraper_name, count(*) AS n FROM {nba_orchestration.scraper_failures} "
        f"WHERE {OPEN} GROUP BY scraper_name"
    )
    loaded = query_processed(
        warehouse,
        "SELECT scraper_name, sum(record_count) AS n FROM {nba_orchestration.processed_messages} "
        "WHERE phase = @phase AND processed_at >= @day GROUP BY scraper_name",
        {"phase": Phase.LOAD, "day": now - dt.timedelta(days=1)},
    )
    decisions = warehouse.query(
        "SELECT workflow, max_by(decision, decided_at) AS decision, max_by(reason, decided_at) AS reason, "
        "max(decided_at) AS decided_at, max_by(outcome, decided_at) AS outcome "
        "FROM {nba_orchestration.workflow_decisions} GROUP BY workflow ORDER BY workflow"
    )
    breakers = warehouse.query(
        "SELECT provider, host, state, failure_count, opened_at, updated_at "
        "FROM {nba_orchestration.circuit_breaker_state} ORDER BY provider, host"
    )
    return {
        "scrapers": scraper_stats(warehouse, now),
        "gaps": {g["scraper_name"]: g["n"] for g in gaps},
        "loaded": {row["scraper_name"]: row["n"] for row in loaded},
        "decisions": decisions,
        "breakers": breakers,
        "credits": credit_stats(warehouse, now),
        "dead_letters": dead_letter_depths(dead_letters),
        "unmatched": unmatched_days(warehouse, now),
        "generated_at": now,
    }


def unmatched_days(warehouse: Warehouse, now: dt.datetime) -> dict[dt.date, int]:
    """Prop names no player matched, for each of the last UNMATCHED_DAYS game days (0 too);
    none before the analytics service has created the player map."""
    today = eastern_date(now)
    days = [today - dt.timedelta(days=n) for n in range(UNMATCHED_DAYS)]
    try:
        counts = unmatched_per_day(warehouse, days[-1], today)
    except TableNotFoundError:
        return {}
    return {day: counts.get(day, 0) for day in days}


def cell(value: Any, css: str = "", attrs: str = "") -> str:
    """One escaped table cell; numbers right-aligned."""
    classes = " ".join(c for c in (css, "num" if isinstance(value, int | float) else "") if c)
    class_attr = f' class="{classes}"' if classes else ""
    return f"<td{class_attr}{attrs}>{html.escape(str(value))}</td>"


def stamp(value: dt.datetime | None, missing: str = "never") -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else missing


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def table(table_id: str, headers: list[str], rows: list[str], empty: str) -> str:
    """A table, or one row saying why it is empty."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = (
        "".join(rows)
        or f'<tr><td colspan="{len(headers)}" class="idle">{html.escape(empty)}</td></tr>'
    )
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def scraper_rows(data: dict[str, Any]) -> list[str]:
    rows = []
    for name in sorted(SOURCES):
        stats = data["scrapers"].get(name, {})
        rate_24 = stats["ok_24h"] / stats["runs_24h"] if stats.get("runs_24h") else None
        rate_7 = stats["ok_7d"] / stats["runs_7d"] if stats.get("runs_7d") else None
        gaps = data["gaps"].get(name, 0)
        last_status = stats.get("last_status")
        status_css = "idle" if last_status is None else "bad" if last_status == "failed" else "ok"
        rows.append(
            f'<tr data-scraper="{html.escape(name)}">'
            + cell(name)
            + cell(stamp(stats.get("last_run")), "" if stats else "idle")
            + cell(last_status or "-", status_css, ' data-col="last_status"')
            + cell(percent(rate_24), rate_class(rate_24), ' data-col="success_24h"')
            + cell(percent(rate_7), rate_class(rate_7), ' data-col="success_7d"')
            + cell(int(stats.get("records_24h") or 0))
            + cell(int(data["loaded"].get(name) or 0))
            + cell(gaps, "bad" if gaps else "ok", ' data-col="open_gaps"')
            + "</tr>"
        )
    return rows


def workflow_rows(data: dict[str, Any]) -> list[str]:
    rows = []
    for d in data["decisions"]:
        failed = d["decision"] == "ABORT" or d["outcome"] == "failed"
        css = "bad" if failed else "ok" if d["decision"] == "RUN" else "idle"
        rows.append(
            f'<tr data-workflow="{html.escape(d["workflow"])}">'
            + cell(d["workflow"])
            + cell(d["decision"], css, ' data-col="decision"')
            + cell(d["outcome"] or "-")
            + cell(d["reason"])
            + cell(stamp(d["decided_at"]))
            + "</tr>"
        )
    return rows


def breaker_rows(data: dict[str, Any]) -> list[str]:
    return [
        f'<tr data-breaker="{html.escape(b["provider"])}/{html.escape(b["host"])}">'
        + cell(b["provider"])
        + cell(b["host"])
        + cell(b["state"], BREAKER_CLASS.get(b["state"], "warn"), ' data-col="state"')
        + cell(int(b["failure_count"]))
        + cell(stamp(b["opened_at"], "-"))
        + "</tr>"
        for b in data["breakers"]
    ]


def credit_rows(data: dict[str, Any]) -> list[str]:
    rows = []
    for upstream, c in data["credits"].items():
        trend = " → ".join(f"{day:%m-%d} {left:,}" for day, left in c.daily) or "-"
        rows.append(
            f'<tr data-upstream="{html.escape(upstream)}">'
            + cell(upstream)
            + cell("-" if c.remaining is None else c.remaining, c.css, ' data-col="remaining"')
            + cell(stamp(c.as_of, "no quota headers seen in 7 d"), "" if c.as_of else "idle")
            + cell(c.spent_24h, attrs=' data-col="spent_24h"')
            + cell(c.spent_7d, attrs=' data-col="spent_7d"')
            + cell(
                "-" if c.days_left is None else round(c.days_left), attrs=' data-col="days_left"'
            )
            + cell(trend, attrs=' data-col="trend"')
            + "</tr>"
        )
    return rows


def dead_letter_rows(data: dict[str, Any]) -> list[str]:
    return [
        f'<tr data-dlq="{html.escape(name)}">'
        + cell(name)
        + cell("unavailable" if depth is None else depth,
               "warn" if depth is None else "bad" if depth else "ok", ' data-col="depth"')
        + "</tr>"
        for name, depth in data["dead_letters"].items()
    ]  # fmt: skip


def unmatched_rows(data: dict[str, Any]) -> list[str]:
    return [
        f'<tr data-day="{day}">'
        + cell(f"{day}")
        + cell(names, "warn" if names else "ok", ' data-col="unmatched"')
        + "</tr>"
        for day, names in data["unmatched"].items()
    ]


def render(data: dict[str, Any]) -> str:
    """The HTML page."""
    legend = (
        '<p class="legend"><span class="ok">healthy</span><span class="warn">degraded</span>'
        '<span class="bad">failing</span><span class="idle">no runs</span></p>'
    )
    scrapers = table(
        "scrapers",
        ["scraper", "last run (UTC)", "last status", "success 24 h", "success 7 d",
         "records 24 h", "rows loaded 24 h", "open gaps"],
        scraper_rows(data),
        "no scrapers registered",
    )  # fmt: skip
    workflows = table(
        "workflows",
        ["workflow", "last decision", "outcome", "reason", "at (UTC)"],
        workflow_rows(data),
        "no decisions yet",
    )
    breakers = table(
        "breakers",
        ["provider", "host", "state", "failures", "opened (UTC)"],
        breaker_rows(data),
        "no circuit recorded yet: every upstream closed",
    )
    dead_letters = table(
        "dead-letters", ["DLQ subscription", "messages"], dead_letter_rows(data), "not checked"
    )
    credits = table(
        "credits",
        ["upstream", "credits left", "as of (UTC)", "spent 24 h", "spent 7 d",
         "days left at this rate", "left at the end of each day (UTC)"],
        credit_rows(data),
        "no upstream reports a usage quota",
    )  # fmt: skip
    unmatched = table(
        "unmatched-names", ["game day (ET)", "prop names matching no player"],
        unmatched_rows(data), "no player map yet: the analytics service creates it",
    )  # fmt: skip
    unmetered = ", ".join(u for u in UPSTREAMS if u not in QUOTA_HEADERS)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>NBA pipeline health</title>
<meta http-equiv="refresh" content="{REFRESH_SECONDS}"><style>{STYLE}</style></head><body>
<header><h1>NBA pipeline health</h1><p>Generated {data["generated_at"]:%Y-%m-%d %H:%M:%S} UTC;
refreshes every {REFRESH_SECONDS} s; figures are cached for {CACHE_SECONDS:.0f} s.</p></header><main>
{legend}<h2>Scrapers</h2>{scrapers}<h2>Workflows</h2>{workflows}
<h2>API credits</h2>{credits}<p class="idle">Upstreams that report no usage quota: {unmetered}.</p>
<h2>Player names</h2>{unmatched}<p class="idle">A book's name for a player that matches none
loses his lines: <code>nba-pipeline players unmatched --from DAY --to DAY</code> lists them;
add each to config/player_overrides.yaml.</p>
<div class="row"><div><h2>Circuit breakers</h2>{breakers}</div>
<div><h2>Dead-letter queues</h2>{dead_letters}</div></div></main></body></html>"""


class DashboardCache:
    """Serves the last render for CACHE_SECONDS of `clock` time, so a refreshing browser does not load the warehouse."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._page: tuple[dt.datetime, str] | None = None

    def page(
        self, warehouse: Warehouse, clock: Clock, dead_letters: DeadLetterCounter | None = None
    ) -> str:
        now = clock.now()
        with self._lock:
            if self._page is None or not 0 <= (now - self._page[0]).total_seconds() < CACHE_SECONDS:
                self._page = (now, render(collect(warehouse, now, dead_letters)))
            return self._page[1]


PageCacheDep = Annotated[DashboardCache, Depends(app_state("dashboard_cache", DashboardCache))]
"""This app's last rendered page."""

router = APIRouter(tags=["dashboard"], dependencies=[Depends(require_admin_identity)])
"""`GET /dashboard`."""


@router.get(
    "/dashboard", response_class=HTMLResponse, summary="Health of every scraper and workflow"
)
def dashboard(
    cache: PageCacheDep, warehouse: WarehouseDep, clock: ClockDep, dead_letters: DeadLettersDep
) -> HTMLResponse:
    return HTMLResponse(cache.page(warehouse, clock, dead_letters))
