"""`config/workflows.yaml` as validated models; errors name the workflow and field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from libs.common.messages import Workflow as WorkflowName
from libs.common.sources.registry import SOURCES

WORKFLOWS_FILE = Path(__file__).resolve().parents[3] / "config" / "workflows.yaml"

DecisionType = Literal[
    "self_aware", "game_aware", "game_aware_yesterday", "discovery", "tip_anchored"
]
TIP_ANCHORED = "tip_anchored"
"""Runs at set minutes before each tip-off (`offsets_minutes`), not at hourly decisions."""
Offset = Annotated[int, Field(gt=0, le=24 * 60, description="minutes before tip-off")]


class ScraperRules(BaseModel):
    """How a scraper behaves inside workflows."""

    model_config = ConfigDict(extra="forbid")
    critical: bool = Field(False, description="a failure fails the workflow run")
    depends_on: list[str] = Field(
        default_factory=list, description="scrapers that must succeed first"
    )
    treat_no_data_as_success: bool = False
    fan_out: Literal["teams", "events", "event_list"] | None = Field(
        None,
        description="one run per team / per event found by the previous step / one run for "
        "the list of those events (`event_ids`)",
    )
    whole_season: bool = Field(
        False, description="run without a date (e.g. the full season schedule)"
    )


class Window(BaseModel):
    """When a workflow may run: fixed clock times, or relative to the day's tip-offs."""

    model_config = ConfigDict(extra="forbid")
    start: dt.time | None = None
    end: dt.time | None = None
    hours_before_first_game: float | None = None
    until: Literal["last_game", "first_game"] | None = None

    @model_validator(mode="after")
    def one_kind(self) -> Window:
        fixed = self.start is not None and self.end is not None
        relative = self.hours_before_first_game is not None and self.until is not None
        if fixed == relative:
            raise ValueError("give either start and end, or hours_before_first_game and until")
        return self


class Step(BaseModel):
    """One stage of a plan: its scrapers run in parallel or one after another."""

    model_config = ConfigDict(extra="forbid")
    parallel: list[str] | None = None
    sequential: list[str] | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> Step:
        if (self.parallel is None) == (self.sequential is None):
            raise ValueError("a step has exactly one of parallel or sequential")
        return self

    @property
    def scrapers(self) -> list[str]:
        return self.parallel or self.sequential or []


class Workflow(BaseModel):
    """A named group of scrapers with its decision rule and staged plan."""

    model_config = ConfigDict(extra="forbid")
    priority: int = 5
    decision: DecisionType
    window: Window | None = Field(None, description="required unless tip_anchored")
    frequency_hours: float | None = Field(
        None, description="re-run every N hours inside the window"
    )
    offsets_minutes: list[Offset] | None = Field(
        None, description="tip_anchored only: capture this many minutes before each tip-off"
    )
    max_attempts: int = Field(3, ge=1, description="per day; per capture when tip_anchored")
    plan: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def fits_its_decision(self) -> Workflow:
        """A tip-anchored workflow has offsets and no window; every other one the reverse."""
        if self.decision != TIP_ANCHORED:
            if self.window is None:
                raise ValueError("window: required (start and end, or hours_before_first_game "
                                 "and until)")  # fmt: skip
            if self.offsets_minutes is not None:
                raise ValueError(f"offsets_minutes: only a {TIP_ANCHORED} workflow has offsets")
            return self
        if not self.offsets_minutes:
            raise ValueError("offsets_minutes: list the minutes before tip-off to capture at, "
                             "e.g. [180, 60, 15, 5]")  # fmt: skip
        if len(set(self.offsets_minutes)) != len(self.offsets_minutes):
            raise ValueError(f"offsets_minutes: {self.offsets_minutes} lists an offset twice")
        if self.window is not None or self.frequency_hours is not None:
            raise ValueError(f"window, frequency_hours: a {TIP_ANCHORED} workflow runs at its "
                             "offsets_minutes; remove them")  # fmt: skip
        return self

    @property
    def scrapers(self) -> list[str]:
        return [name for step in self.plan for name in step.scrapers]


class WorkflowConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")
    scrapers: dict[str, ScraperRules]
    workflows: dict[WorkflowName, Workflow]

    @model_validator(mode="after")
    def names_are_registered(self) -> WorkflowConfig:
        problems = []
        for name, rules in self.scrapers.items():
            if name not in SOURCES:
                problems.append(
                    f"scrapers.{name}: not a registered scraper (known: {', '.join(SOURCES)})"
                )
            problems += [f"scrapers.{name}.depends_on: unknown scraper '{dep}' (declare it under scrapers)"
                         for dep in rules.depends_on if dep not in self.scrapers]  # fmt: skip
        for wf_name, workflow in self.workflows.items():
            problems += [f"workflows.{wf_name}.plan: scraper '{s}' is not declared under scrapers"
                         for s in workflow.scrapers if s not in self.scrapers]  # fmt: skip
            problems += self._order_problems(wf_name, workflow)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _order_problems(self, wf_name: str, workflow: Workflow) -> list[str]:
        """A dependency inside the same plan must finish first: an earlier step or sequence slot."""
        problems, done = [], set()
        for step in workflow.plan:
            for name in step.scrapers:
                rules = self.scrapers.get(name, ScraperRules())
                problems += [f"workflows.{wf_name}.plan: '{name}' depends on '{dep}', which must run "
                             "in an earlier step (or earlier in a sequential list)"
                             for dep in rules.depends_on if dep in workflow.scrapers and dep not in done]  # fmt: skip
                if step.sequential is not None:
                    done.add(name)
            done |= set(step.scrapers)
        return problems


class WorkflowConfigError(ValueError):
    """workflows.yaml does not validate; the message names each workflow/field and the fix."""


def load_workflows(path: Path = WORKFLOWS_FILE) -> WorkflowConfig:
    """Read and validate the workflow file."""
    try:
        return WorkflowConfig.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}".removeprefix(": ")
            .replace("Value error, ", "")
            for err in exc.errors()
        )  # fmt: skip
        raise WorkflowConfigError(f"{path}: {problems}") from None
