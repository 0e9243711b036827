"""Cloud Scheduler jobs from infra/scheduler/jobs.yaml: gcloud commands for production, a loop locally."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict

from libs.common.clock import Clock
from nba_pipeline.deploy.gcloud import gcloud

JOBS_FILE = Path(__file__).resolve().parents[1] / "infra" / "scheduler" / "jobs.yaml"
log = logging.getLogger(__name__)


class Job(BaseModel):
    """One scheduled POST to the scrapers service."""

    model_config = ConfigDict(extra="forbid")
    name: str
    schedule: str
    path: str
    description: str = ""
    enabled: bool = True


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retry_count: int
    min_backoff_seconds: int
    max_backoff_seconds: int


class SchedulerConfig(BaseModel):
    """The whole jobs file."""

    model_config = ConfigDict(extra="forbid")
    time_zone: str
    target_service: str
    jobs: list[Job]
    retry: Retry
    attempt_deadline_seconds: int

    @classmethod
    def load(cls, path: Path = JOBS_FILE) -> SchedulerConfig:
        config = cls.model_validate(yaml.safe_load(path.read_text()))
        for job in config.jobs:
            if not croniter.is_valid(job.schedule):
                raise ValueError(
                    f"{path}: job {job.name}: schedule '{job.schedule}' is not a cron expression"
                )
        return config

    def gcloud_commands(
        self,
        project: str,
        location: str,
        target_url: str,
        service_account: str,
        existing: Collection[str] = (),
    ) -> list[list[str]]:
        """`gcloud scheduler jobs create http` per enabled job, `update http` for `existing` ones.

        Each job POSTs `{}` to the scrapers service with an OIDC token of `service_account`
        whose audience is the service URL (what the service verifies); disabled jobs that
        exist are paused, so the yaml stays the one list of what runs.
        """
        base = target_url.rstrip("/")
        scope = [f"--project={project}", f"--location={location}"]
        commands = []
        for job in self.jobs:
            if not job.enabled:
                if job.name in existing:
                    commands.append(gcloud("scheduler jobs pause", job.name, *scope))
                continue
            update = job.name in existing
            commands.append(
                gcloud(
                    f"scheduler jobs {'update' if update else 'create'} http",
                    job.name,
                    *scope,
                    f"--schedule={job.schedule}",
                    f"--time-zone={self.time_zone}",
                    f"--uri={base}{job.path}",
                    "--http-method=POST",
                    f"--{'update-headers' if update else 'headers'}=Content-Type=application/json",
                    "--message-body={}",
                    f"--oidc-service-account-email={service_account}",
                    f"--oidc-token-audience={base}",
                    f"--attempt-deadline={self.attempt_deadline_seconds}s",
                    f"--max-retry-attempts={self.retry.retry_count}",
                    f"--min-backoff={self.retry.min_backoff_seconds}s",
                    f"--max-backoff={self.retry.max_backoff_seconds}s",
                    f"--description={job.description}",
                )
            )
        return commands


def list_jobs_command(project: str, location: str) -> list[str]:
    """Lists the job ids already in the project and location (one per line)."""
    return gcloud(
        "scheduler jobs list",
        f"--project={project}",
        f"--location={location}",
        "--format=value(name.basename())",
    )


class SchedulerLoop:
    """Runs due jobs against a clock; `tick()` is what a test calls instead of sleeping."""

    def __init__(self, config: SchedulerConfig, post: Callable[[str], None], clock: Clock) -> None:
        self.config = config
        self.post = post
        self.clock = clock
        self.zone = ZoneInfo(config.time_zone)
        self.last_tick = clock.now()

    def due(self, since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, Job]]:
        """Every (fire time, job) in (since, until], in time order."""
        fires = []
        for job in self.config.jobs:
            if not job.enabled:
                continue
            schedule = croniter(job.schedule, since.astimezone(self.zone))
            while (at := schedule.get_next(dt.datetime)) <= until:
                fires.append((at, job))
        return sorted(fires, key=lambda item: (item[0], self.config.jobs.index(item[1])))

    def tick(self) -> list[tuple[dt.datetime, str]]:
        """Fire every job due since the last tick; returns what fired."""
        now = self.clock.now()
        fired = []
        for at, job in self.due(self.last_tick, now):
            try:
                self.post(job.path)
            except httpx.HTTPError as exc:
                log.error(
                    "scheduled job failed", extra={"fields": {"job": job.name, "error": str(exc)}}
                )
            fired.append((at, job.name))
        self.last_tick = now
        return fired
