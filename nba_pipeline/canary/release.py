"""The canary's gcloud commands and its flow: deploy, split, watch, promote or roll back.

Revisions are addressed by traffic tags, so promote and rollback need no state: `canary` is
the revision under test, `previous` the one that served before it (`--set-tags` moves both
tags at once and drops stale ones). Settings: the deploy settings (`DeploySettings`) and
`CanarySettings`; `DRY_RUN=1` prints the commands and runs nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from pydantic import ValidationError

from nba_pipeline.canary.decision import CanarySettings, Verdict, judge
from nba_pipeline.canary.metrics import CloudMonitoring, MetricsSource, MonitoringError
from nba_pipeline.deploy.gcloud import (
    build_command,
    dry_run,
    gcloud,
    run_command,
    write_rendered,
)
from nba_pipeline.deploy.settings import (
    ROOT,
    SERVICES,
    DeploySettings,
    ProjectSettings,
    cloud_run_name,
    settings_error,
)

CANARY_TAG = "canary"
PREVIOUS_TAG = "previous"
PREVIOUS_PLACEHOLDER = "PREVIOUS_REVISION"
"""Stands for the revision serving the most traffic in a dry run, which reads nothing."""
ACTIONS = ("deploy", "promote", "rollback")


class ReleaseError(RuntimeError):
    """The release cannot go on as the service stands; says what to do instead."""


def _on_service(command: str, service: str, settings: ProjectSettings, *flags: str) -> list[str]:
    """`gcloud COMMAND nba-SERVICE --project=P --region=R FLAGS`."""
    return gcloud(
        command,
        cloud_run_name(service),
        f"--project={settings.gcp_project}",
        f"--region={settings.gcp_region}",
        *flags,
    )


def describe_command(service: str, settings: ProjectSettings) -> list[str]:
    return _on_service("run services describe", service, settings, "--format=json")


def deploy_command(service: str, settings: DeploySettings) -> list[str]:
    """A new revision of the built image with no traffic, tagged `canary`; the rest of the
    service's configuration is the live revision's."""
    return _on_service(
        "run deploy",
        service,
        settings,
        f"--image={settings.image(service)}",
        "--no-traffic",
        f"--tag={CANARY_TAG}",
        f"--update-env-vars=SERVICE_VERSION={settings.image_tag}",
    )


def traffic_command(service: str, settings: ProjectSettings, *flags: str) -> list[str]:
    return _on_service("run services update-traffic", service, settings, *flags)


def tag_previous_command(service: str, settings: ProjectSettings, revision: str) -> list[str]:
    return traffic_command(service, settings, f"--set-tags={PREVIOUS_TAG}={revision}")


def split_command(service: str, settings: ProjectSettings, percent: int) -> list[str]:
    return traffic_command(
        service, settings, f"--to-tags={PREVIOUS_TAG}={100 - percent},{CANARY_TAG}={percent}"
    )


def promote_command(service: str, settings: ProjectSettings) -> list[str]:
    return traffic_command(service, settings, f"--to-tags={CANARY_TAG}=100")


def rollback_command(service: str, settings: ProjectSettings) -> list[str]:
    return traffic_command(service, settings, f"--to-tags={PREVIOUS_TAG}=100")


def serving_revision(description: dict[str, Any]) -> str | None:
    """The revision with the most traffic in `gcloud run services describe --format=json`."""
    routes = [r for r in description.get("status", {}).get("traffic", []) if r.get("percent")]
    return max(routes, key=lambda r: r["percent"])["revisionName"] if routes else None


def tagged_revision(description: dict[str, Any], tag: str) -> str | None:
    return next(
        (
            r.get("revisionName")
            for r in description.get("status", {}).get("traffic", [])
            if r.get("tag") == tag
        ),
        None,
    )


class CommandFailed(RuntimeError):
    """A gcloud command exited non-zero; the release stops with its exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Gcloud(Protocol):
    """Runs commands (`run`) and reads JSON from them (`read`, saying `why`); a dry run prints
    both and reads nothing."""

    def run(self, command: list[str]) -> None: ...

    def read(self, command: list[str], why: str) -> dict[str, Any] | None: ...


@dataclass
class PrintingGcloud:
    """DRY_RUN: every command on `out`, reads as comments (they return nothing)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)

    def run(self, command: list[str]) -> None:
        self.out.write(shlex.join(command) + "\n")

    def read(self, command: list[str], why: str) -> dict[str, Any] | None:
        self.out.write(f"# {why}: {shlex.join(command)}\n")
        return None


class RealGcloud:
    """Runs each command from the repository root; stops the release at the first failure."""

    def run(self, command: list[str]) -> None:
        if code := run_command(command):
            raise CommandFailed(code)

    def read(self, command: list[str], why: str) -> dict[str, Any] | None:
        sys.stderr.write(f"+ {shlex.join(command)}  ({why})\n")
        try:
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            sys.stderr.write(f"error: {command[0]} not found; install the Google Cloud CLI\n")
            raise CommandFailed(127) from None
        if result.returncode:
            sys.stderr.write(result.stderr)
            raise CommandFailed(result.returncode)
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Release:
    """One service's canary release."""

    service: str
    settings: DeploySettings
    limits: CanarySettings
    gcloud: Gcloud
    metrics: MetricsSource
    now: Callable[[], dt.datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    say: Callable[[str], None] = _to_stderr

    def deploy(self) -> Verdict | None:
        """Build, tag the serving revision `previous`, deploy the canary with no traffic, give
        it CANARY_PERCENT, watch it, then promote or roll back; None in a dry run."""
        service, settings = self.service, self.settings
        self.gcloud.run(build_command(service, settings))
        described = self.gcloud.read(
            describe_command(service, settings),
            f"{PREVIOUS_PLACEHOLDER} is the revision serving the most traffic",
        )
        previous = serving_revision(described) if described is not None else PREVIOUS_PLACEHOLDER
        if previous is None:
            raise ReleaseError(
                f"{cloud_run_name(service)} serves no revision yet: deploy it first with "
                f"`make deploy-{service}`, then release the next image as a canary"
            )
        self.gcloud.run(tag_previous_command(service, settings, previous))
        self.gcloud.run(deploy_command(service, settings))
        described = self.gcloud.read(
            describe_command(service, settings), "the canary's revision, whose metrics are read"
        )
        canary = CANARY_TAG if described is None else tagged_revision(described, CANARY_TAG)
        if canary is None:
            raise ReleaseError(
                f"no revision of {cloud_run_name(service)} carries the tag {CANARY_TAG} after "
                "the deploy; no traffic was moved to it"
            )
        self.gcloud.run(split_command(service, settings, self.limits.canary_percent))
        if described is None:
            return None
        verdict = self.watch(canary, previous)
        self.say(f"{canary}: {verdict.decision}: {verdict.reason}")
        self.gcloud.run(
            promote_command(service, settings)
            if verdict.decision == "promote"
            else rollback_command(service, settings)
        )
        return verdict

    def watch(self, canary: str, previous: str) -> Verdict:
        """Read both revisions' metrics every CANARY_CHECK_SECONDS since the traffic split,
        until a verdict: a rollback as soon as one is due, else after CANARY_WATCH_SECONDS."""
        limits = self.limits
        start = self.now()
        self.say(f"watching {canary} against {previous} for {limits.canary_watch_seconds} s")
        while True:
            elapsed = (self.now() - start).total_seconds()
            self.sleep(
                max(0.0, min(limits.canary_check_seconds, limits.canary_watch_seconds - elapsed))
            )
            end = self.now()
            watched_all = (end - start).total_seconds() >= limits.canary_watch_seconds
            verdict = judge(
                self.metrics.health(canary, start, end),
                self.metrics.health(previous, start, end),
                limits,
                watched_all,
            )
            if verdict.decision != "watch":
                return verdict
            self.say(f"{(end - start).total_seconds():.0f} s: {verdict.reason}")


USAGE = (
    "usage: python -m nba_pipeline.canary {deploy|promote|rollback} "
    "{scrapers|processors|analytics}  (make deploy-canary SERVICE=scrapers)\n"
)


def _release(service: str, out: TextIO) -> int:
    """`deploy`: 0 promoted, 1 rolled back, 2 settings or Monitoring, else gcloud's code."""
    try:
        settings = DeploySettings()
        limits = CanarySettings()
    except ValidationError as exc:
        sys.stderr.write(f"error: {settings_error(exc)} (see docs/deploy.md, Canary releases)\n")
        return 2
    gcloud: Gcloud = PrintingGcloud(out) if dry_run() else RealGcloud()
    metrics = CloudMonitoring(settings.gcp_project, cloud_run_name(service))
    try:
        if not dry_run():
            write_rendered([service], settings)
        verdict = Release(service, settings, limits, gcloud, metrics).deploy()
    except CommandFailed as exc:
        return exc.code
    except ReleaseError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except MonitoringError as exc:
        sys.stderr.write(
            f"error: {exc}\nthe canary keeps {limits.canary_percent}% of the traffic: decide by "
            f"hand with `make promote SERVICE={service}` or `make rollback SERVICE={service}`\n"
        )
        return 2
    if verdict is None:
        out.write(
            f"# then, after watching the canary for {limits.canary_watch_seconds} s, one of:\n"
        )
        for command in (promote_command(service, settings), rollback_command(service, settings)):
            out.write(f"# {shlex.join(command)}\n")
        return 0
    return 0 if verdict.decision == "promote" else 1


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one action on one service; its exit code (2: usage or settings)."""
    out = out or sys.stdout
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ACTIONS or args[1] not in SERVICES:
        sys.stderr.write(USAGE)
        return 2
    action, service = args
    if action == "deploy":
        return _release(service, out)
    try:
        settings = ProjectSettings()
    except ValidationError as exc:
        sys.stderr.write(f"error: {settings_error(exc)} (see docs/deploy.md)\n")
        return 2
    move = promote_command if action == "promote" else rollback_command
    gcloud: Gcloud = PrintingGcloud(out) if dry_run() else RealGcloud()
    try:
        gcloud.run(move(service, settings))
    except CommandFailed as exc:
        return exc.code
    return 0
