"""infra/scheduler/jobs.yaml: the gcloud commands `infra apply-scheduler` runs, and the local loop."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from libs.common.clock import EASTERN, Clock
from nba_pipeline.cli import app
from nba_pipeline.scheduler import SchedulerConfig, SchedulerLoop

URL = "https://nba-scrapers-123456.us-central1.run.app"
SA = "nba-scheduler@nba-prod.iam.gserviceaccount.com"
ARGS = ["infra", "apply-scheduler", "--project=nba-prod", f"--scrapers-url={URL}/",
        f"--service-account={SA}", "--location=us-east1"]  # fmt: skip
CONFIG = SchedulerConfig.load()
EVALUATE = [
    "gcloud", "scheduler", "jobs", "create", "http", "nba-evaluate-workflows",
    "--project=nba-prod", "--location=us-east1", "--schedule=0 6-23 * * *",
    "--time-zone=America/New_York", f"--uri={URL}/evaluate-workflows", "--http-method=POST",
    "--headers=Content-Type=application/json", "--message-body={}",
    f"--oidc-service-account-email={SA}", f"--oidc-token-audience={URL}",
    "--attempt-deadline=1800s", "--max-retry-attempts=3", "--min-backoff=30s",
    "--max-backoff=300s", "--description=hourly RUN / SKIP / ABORT decisions and the runs they start",
]  # fmt: skip
"""What jobs.yaml's hourly evaluator becomes, spelled out."""


def test_dry_run_prints_one_create_per_enabled_job_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("dry run ran a command"))
    result = CliRunner().invoke(app, [*ARGS, "--dry-run"])
    assert result.exit_code == 0, result.output
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert [c[5] for c in commands] == [job.name for job in CONFIG.jobs if job.enabled]
    assert "nba-backfill-gaps" in [c[5] for c in commands], "the gap backfiller runs by itself"
    assert EVALUATE in commands


def test_apply_updates_existing_jobs_creates_new_ones_and_pauses_disabled_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[list[str]] = []

    def fake_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        listing = "nba-evaluate-workflows\nnba-backfill-gaps\n" if command[3] == "list" else ""
        return subprocess.CompletedProcess(command, 0, listing, "")

    paused = [
        job.model_copy(update={"enabled": job.name != "nba-backfill-gaps"}) for job in CONFIG.jobs
    ]
    with_one_paused = CONFIG.model_copy(update={"jobs": paused})
    monkeypatch.setattr(SchedulerConfig, "load", classmethod(lambda cls: with_one_paused))
    monkeypatch.setattr(subprocess, "run", fake_run)
    result = CliRunner().invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    assert ran[0] == ["gcloud", "scheduler", "jobs", "list", "--project=nba-prod",
                      "--location=us-east1", "--format=value(name.basename())"]  # fmt: skip
    verbs = {c[4] if c[3] == "pause" else c[5]: c[3] for c in ran[1:]}
    assert (
        verbs.pop("nba-backfill-gaps") == "pause"
        and verbs.pop("nba-evaluate-workflows") == "update"
    )
    assert set(verbs.values()) == {"create"}, "the jobs not listed yet are created"
    assert len(ran) == 1 + len(CONFIG.jobs)
    update = [c if c != "--headers=Content-Type=application/json" else "--update-headers=Content-Type=application/json"
              for c in EVALUATE]  # fmt: skip
    update[3] = "update"
    assert ran[2] == update


def test_a_failing_gcloud_command_stops_and_names_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        code = 1 if command[3] == "create" else 0
        return subprocess.CompletedProcess(command, code, "", "PERMISSION_DENIED")

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = CliRunner().invoke(app, ARGS)
    assert result.exit_code == 1
    assert "nba-generate-daily-schedule" in result.output and "PERMISSION_DENIED" in result.output


def test_the_local_loop_fires_due_jobs_as_the_clock_moves_without_sleeping() -> None:
    clock = Clock(dt.datetime.combine(dt.date(2025, 1, 15), dt.time(4, 59), EASTERN))
    posted: list[str] = []

    def post(path: str) -> None:
        posted.append(path)
        if path == "/run-cleanup":
            raise httpx.ConnectError("scrapers down")  # logged; the loop keeps going

    loop = SchedulerLoop(CONFIG, post, clock)
    clock.advance(dt.timedelta(hours=1, minutes=1))
    fired = [(at.astimezone(EASTERN).strftime("%H:%M"), name) for at, name in loop.tick()]
    assert fired == sorted(fired, key=lambda item: item[0]), "in time order"

    def times(job: str) -> list[str]:
        return [at for at, name in fired if name == job]

    assert times("nba-generate-daily-schedule") == ["05:00"]
    assert times("nba-run-cleanup") == ["05:00", "05:15", "05:30", "05:45", "06:00"]
    assert times("nba-evaluate-workflows") == ["06:00"]
    assert times("nba-check-dead-letters") == [*(f"05:{m:02d}" for m in range(0, 60, 5)), "06:00"]
    paths = {job.name: job.path for job in CONFIG.jobs}
    assert posted == [paths[name] for _, name in fired], "every job posted, a failing one too"
    assert loop.tick() == [], "nothing fires twice"

    clock.advance(dt.timedelta(hours=2, minutes=30))
    assert [(at.astimezone(EASTERN).strftime("%H:%M"), name) for at, name in loop.tick()
            if name == "nba-backfill-gaps"] == [("08:30", "nba-backfill-gaps")]  # fmt: skip
