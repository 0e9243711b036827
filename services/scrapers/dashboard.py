"""`GET /dashboard`: one HTML page an operator reads at a glance; results cached 60 s."""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from libs.common.auth import require_admin_identity
from libs.common.clock import Clock
from libs.common.deps import ClientsDep
from libs.common.sources.registry import SOURCES
from libs.common.warehouse.base import Warehouse

CACHE_SECONDS = 60.0
REFRESH_SECONDS = 60

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin-bottom:1.5rem;min-width:60%}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}.ok{background:#d8f5d8}.warn{background:#fff2c2}.bad{background:#f8d0d0}.idle{background:#eee}
"""


def rate_class(rate: float | None) -> str:
    """Colour of a success rate: green, amber, red, grey when nothing ran."""
    if rate is None:
        return "idle"
    return "ok" if rate >= 0.95 else "warn" if rate >= 0.8 else "bad"


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
        "FROM {nba_orchestration.scraper_execution_log} WHERE finished_at >= @week GROUP BY scraper_name",
        {"day": now - dt.timedelta(days=1), "week": now - dt.timedelta(days=7)},
    )
    return {row["scraper_name"]: row for row in rows}


def collect(warehouse: Warehouse, now: dt.datetime) -> dict[str, Any]:
    """Everything the page shows, from the warehouse."""
    gaps = warehouse.query(
        "SELECT scraper_name, count(*) AS n FROM {nba_orchestration.scraper_failures} "
        "WHERE NOT backfilled GROUP BY scraper_name"
    )
    decisions = warehouse.query(
        "SELECT workflow, max_by(decision, decided_at) AS decision, max_by(reason, decided_at) AS reason, "
        "max(decided_at) AS decided_at, max_by(outcome, decided_at) AS outcome "
        "FROM {nba_orchestration.workflow_decisions} GROUP BY workflow ORDER BY workflow"
    )
    return {"scrapers": scraper_stats(warehouse, now), "gaps": {g["scraper_name"]: g["n"] for g in gaps},
            "decisions": decisions, "generated_at": now}  # fmt: skip


def render(data: dict[str, Any]) -> str:
    """The HTML page."""
    esc = html.escape
    lines = []
    for name in sorted(SOURCES):
        stats = data["scrapers"].get(name, {})
        rate_24 = stats["ok_24h"] / stats["runs_24h"] if stats.get("runs_24h") else None
        rate_7 = stats["ok_7d"] / stats["runs_7d"] if stats.get("runs_7d") else None
        gaps = data["gaps"].get(name, 0)
        last = stats.get("last_run")
        lines.append(
            f'<tr data-scraper="{esc(name)}"><td>{esc(name)}</td>'
            f"<td>{esc(f'{last:%Y-%m-%d %H:%M}') if last else 'never'}</td>"
            f'<td class="{"bad" if stats.get("last_status") == "failed" else "ok" if last else "idle"}">'
            f"{esc(str(stats.get('last_status', '-')))}</td>"
            f'<td class="{rate_class(rate_24)}">{"-" if rate_24 is None else f"{rate_24:.0%}"}</td>'
            f'<td class="{rate_class(rate_7)}">{"-" if rate_7 is None else f"{rate_7:.0%}"}</td>'
            f"<td>{stats.get('records_24h') or 0}</td>"
            f'<td class="{"bad" if gaps else "ok"}">{gaps}</td></tr>'
        )
    workflows = [
        f'<tr data-workflow="{esc(d["workflow"])}"><td>{esc(d["workflow"])}</td>'
        f'<td class="{"ok" if d["decision"] == "RUN" and d["outcome"] != "failed" else "bad" if d["decision"] == "ABORT" or d["outcome"] == "failed" else "idle"}">'
        f"{esc(d['decision'])}</td><td>{esc(d['reason'])}</td><td>{d['decided_at']:%Y-%m-%d %H:%M}</td></tr>"
        for d in data["decisions"]
    ]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>NBA pipeline health</title>
<meta http-equiv="refresh" content="{REFRESH_SECONDS}"><style>{STYLE}</style></head><body>
<h1>NBA pipeline health</h1><p>Generated {data["generated_at"]:%Y-%m-%d %H:%M:%S} UTC; refreshes every {REFRESH_SECONDS} s.</p>
<h2>Scrapers</h2><table id="scrapers"><tr><th>scraper</th><th>last run (UTC)</th><th>last status</th>
<th>success 24 h</th><th>success 7 d</th><th>records 24 h</th><th>open gaps</th></tr>{"".join(lines)}</table>
<h2>Workflows</h2><table id="workflows"><tr><th>workflow</th><th>last decision</th><th>reason</th><th>at (UTC)</th></tr>
{"".join(workflows) or '<tr><td colspan="4">no decisions yet</td></tr>'}</table></body></html>"""


class DashboardCache:
    """Serves the last render for CACHE_SECONDS so a refreshing browser does not load the warehouse."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._page: tuple[float, str] | None = None

    def page(self, warehouse: Warehouse, clock: Clock) -> str:
        with self._lock:
            if self._page is None or time.monotonic() - self._page[0] > CACHE_SECONDS:
                self._page = (time.monotonic(), render(collect(warehouse, clock.now())))
            return self._page[1]


def dashboard_router() -> APIRouter:
    """`GET /dashboard`."""
    router = APIRouter(tags=["dashboard"], dependencies=[Depends(require_admin_identity)])
    cache = DashboardCache()

    @router.get(
        "/dashboard", response_class=HTMLResponse, summary="Health of every scraper and workflow"
    )
    def dashboard(request: Request, clients: ClientsDep) -> HTMLResponse:
        return HTMLResponse(cache.page(clients.warehouse, request.app.state.clock))

    return router
