"""What the scrapers service's routes depend on, as dependency aliases (`RunnerDep`...): a
route's signature says what it touches, and a test overrides one dependency by its getter.
Each reads an object the app made when it was created or started (`libs.common.deps.app_state`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.common.clock import Clock
from libs.common.deps import app_state
from services.scrapers.dead_letters import DeadLetterCounter
from services.scrapers.orchestration.engine import Orchestrator
from services.scrapers.runner import ScrapeRunner
from services.scrapers.settings import ScraperSettings

get_settings = app_state("settings", ScraperSettings)
SettingsDep = Annotated[ScraperSettings, Depends(get_settings)]
"""The scrapers' settings, their secrets resolved."""
get_clock = app_state("clock", Clock)
ClockDep = Annotated[Clock, Depends(get_clock)]
"""The pipeline clock: a test sets it to drive orchestration without sleeping."""
get_runner = app_state("runner", ScrapeRunner)
RunnerDep = Annotated[ScrapeRunner, Depends(get_runner)]
"""The runner of every scrape, with the process's pooled HTTP clients, circuit breakers and
alert conditions."""
get_orchestrator = app_state("orchestrator", Orchestrator)
OrchestratorDep = Annotated[Orchestrator, Depends(get_orchestrator)]
"""The workflow orchestrator."""
get_dead_letters = app_state("dead_letters", DeadLetterCounter)
DeadLettersDep = Annotated[DeadLetterCounter, Depends(get_dead_letters)]
"""The counter of the dead-letter queues."""
