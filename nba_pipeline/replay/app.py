"""The upstream replay server: all five upstreams, each under its own prefix, with no network.

Requests that exactly match a recording get the recorded bytes; everything else is drawn
from the deterministic generated 2024-25 season (`season.py`). See `recordings/README.md`
for the recordings and DESIGN §6 for the requests.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from nba_pipeline.replay import balldontlie, bettingpros, espn, faults, nbacom, oddsapi
from nba_pipeline.replay.http import UpstreamError, handle_upstream_error
from nba_pipeline.replay.season import Season
from nba_pipeline.replay.settings import ReplaySettings


def create_app(settings: ReplaySettings | None = None) -> FastAPI:
    """One app per settings: its own season (built here, ~0.1 s) and its own fault book."""
    settings = settings or ReplaySettings()
    season = Season(settings.seed)
    book = faults.FaultBook()
    app = FastAPI(
        title="NBA upstream replay",
        description="The Odds API, balldontlie, ESPN, NBA.com and BettingPros, replayed locally: "
        "recorded responses for their exact requests, a generated 2024-25 season otherwise.",
        version="1",
    )
    app.state.settings, app.state.season, app.state.faults = settings, season, book
    app.state.odds_credits = oddsapi.Credits(settings.odds_api_credits)
    app.add_exception_handler(UpstreamError, handle_upstream_error)
    faults.install(app, book, settings.latency_ms)
    for module in (oddsapi, balldontlie, espn, bettingpros):
        app.include_router(module.router(season))
    for router in nbacom.routers(season):
        app.include_router(router)
    app.include_router(faults.router(book))

    @app.get("/health", tags=["control"], summary="Liveness, and the seed being served")
    def health() -> dict[str, object]:
        return {"status": "ok", "seed": settings.seed, "games": len(season.games)}

    return app


def main() -> None:
    """`python -m nba_pipeline.replay`: serve on REPLAY_HOST:REPLAY_PORT (127.0.0.1:8090)."""
    settings = ReplaySettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
