"""`nba-pipeline infra`: a Google Cloud project from nothing, the Pub/Sub topology, the
scheduler jobs and monitoring, each idempotent and each with a dry run that prints its calls."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2
from pydantic import ValidationError

from nba_pipeline.deploy.gcloud import iam_commands
from nba_pipeline.deploy.settings import DEFAULT_BUCKET, DeploySettings, settings_error
from nba_pipeline.monitoring import (
    Clients,
    MonitoringApplier,
    MonitoringConfigError,
    MonitoringSpec,
)
from nba_pipeline.project import Step, project_steps
from nba_pipeline.scheduler import SchedulerConfig, list_jobs_command
from nba_pipeline.topology import Topology, TopologyApplier

infra_app = typer.Typer(
    help="A project from nothing, Pub/Sub topology, scheduler jobs, monitoring.",
    no_args_is_help=True,
)

Project = Annotated[str, typer.Option(help="Google Cloud project id")]
Region = Annotated[str, typer.Option(help="Cloud Run, Scheduler, registry and bucket region")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="print the exact commands and API calls, change nothing")
]
SlackChannel = Annotated[
    str, typer.Option(help="Slack channel for alerts, e.g. '#nba-alerts' (token: SLACK_AUTH_TOKEN)")
]
AlertEmail = Annotated[str, typer.Option(help="email address alerts go to")]


def _stop(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line reason on stderr and exit with `code`."""
    typer.echo(message, err=True)
    return typer.Exit(code)


class Gcloud:
    """Runs gcloud commands in order, stopping at the first failure, or (dry run) prints them."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def output(self, command: list[str], check: bool = True) -> str | None:
        """The command's stdout; None when it failed and `check` is off."""
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise _stop("gcloud not found; install the Google Cloud CLI", 127) from None
        if done.returncode == 0:
            return done.stdout
        if not check:
            return None
        raise _stop(f"exit {done.returncode} from {shlex.join(command)}: {done.stderr.strip()}", 1)

    def step(self, step: Step) -> None:
        """Print and run a step; a created resource whose probe finds it is kept as it is."""
        if not self.dry_run and step.probe and self.output(step.probe, check=False) is not None:
            typer.echo(f"# exists, kept: {shlex.join(step.command)}")
            return
        typer.echo(shlex.join(step.command))
        if not self.dry_run:
            self.output(step.command)


def _json(value: Any) -> Any:
    """A request as JSON: durations as the API writes them ("600s")."""
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, duration_pb2.Duration):
        return f"{value.seconds}s"
    return value


def _apply_topology(applier: TopologyApplier, local: bool, dry_run: bool) -> None:
    topology = Topology.load(local=local)
    if dry_run:
        for rpc, request in applier.create_requests(topology):
            typer.echo(f"{rpc} {json.dumps(_json(request), sort_keys=True)}")
        return
    for action in applier.apply(topology) or ["topology: nothing to change"]:
        typer.echo(f"# {action}")


def _apply_monitoring(project: str, slack_channel: str, alert_email: str, dry_run: bool) -> None:
    token = os.environ.get("SLACK_AUTH_TOKEN", "")
    try:
        spec = MonitoringSpec.load(project, slack_channel, token, alert_email)
    except MonitoringConfigError as exc:
        raise _stop(str(exc)) from None
    for channel in spec.left_out:
        typer.echo(f"# channel left out: {channel}", err=True)
    clients = None if dry_run else Clients.for_google_cloud()
    MonitoringApplier(project, clients).apply(spec, lambda call: typer.echo(str(call)))


def _project_number(gcloud: Gcloud, project: str, given: str) -> str:
    """The number in the service URLs and service agents: given, else asked of gcloud."""
    if given:
        return given
    if gcloud.dry_run:
        raise _stop(
            "a dry run needs --project-number (or GCP_PROJECT_NUMBER): "
            f"gcloud projects describe {project} --format='value(projectNumber)'"
        )
    command = ["gcloud", "projects", "describe", project, "--format=value(projectNumber)"]
    return str(gcloud.output(command)).strip()


EMULATOR_PROJECT = "nba-local"
"""The project `make run`'s emulator serves (DESIGN §1)."""


@infra_app.command("apply-topology")
def infra_apply_topology(
    project: Annotated[str, typer.Option(help="project on the emulator")] = EMULATOR_PROJECT,
    processors_url: Annotated[str | None, typer.Option(help="processors base URL")] = None,
    analytics_url: Annotated[str | None, typer.Option(help="analytics base URL")] = None,
    push_service_account: Annotated[
        str | None, typer.Option(help="identity of push tokens (none on the emulator)")
    ] = None,
    dry_run: DryRun = False,
    local: Annotated[bool, typer.Option(help="use local_overrides (fast retries)")] = False,
) -> None:
    """Only the Pub/Sub topology of infra/pubsub/topology.yaml, on the emulator of
    PUBSUB_EMULATOR_HOST: what is missing is created, what changed is updated in place."""
    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise _stop(
            "set PUBSUB_EMULATOR_HOST; on Google Cloud, `infra apply --project P` does this"
        )
    urls = {
        "processors": processors_url or "http://127.0.0.1:8082",
        "analytics": analytics_url or "http://127.0.0.1:8083",
    }
    applier = TopologyApplier(project, urls, push_service_account or "")
    topology = Topology.load(local=local)
    actions = applier.plan(topology) if dry_run else applier.apply(topology)
    for action in actions or ["nothing to change"]:
        typer.echo(("would " if dry_run and actions else "") + action)


@infra_app.command("apply")
def infra_apply(
    project: Annotated[
        str | None,
        typer.Option(help="Google Cloud project: create everything; omit for the emulator"),
    ] = None,
    project_number: Annotated[
        str, typer.Option(envvar="GCP_PROJECT_NUMBER", help="else looked up with gcloud")
    ] = "",
    region: Region = "us-central1",
    gcs_bucket: Annotated[
        str, typer.Option(envvar="GCS_BUCKET", help="raw-file bucket (default: the services')")
    ] = DEFAULT_BUCKET,
    processors_url: Annotated[
        str | None, typer.Option(help="processors base URL (default: local, or Cloud Run's)")
    ] = None,
    analytics_url: Annotated[
        str | None, typer.Option(help="analytics base URL (default: local, or Cloud Run's)")
    ] = None,
    push_service_account: Annotated[
        str | None, typer.Option(help="identity of push tokens (default with --project: nba-push)")
    ] = None,
    slack_channel: SlackChannel = "",
    alert_email: AlertEmail = "",
    dry_run: DryRun = False,
    local: Annotated[bool, typer.Option(help="use local_overrides (fast retries)")] = False,
) -> None:
    """With --project: everything the services need in an empty project, idempotently (APIs,
    bucket, service accounts, secrets, registry, IAM, topology, scheduler jobs, monitoring).
    Without: the Pub/Sub topology of infra/pubsub/topology.yaml on the emulator."""
    if project is None:
        if not os.environ.get("PUBSUB_EMULATOR_HOST"):
            raise _stop("give --project, or set PUBSUB_EMULATOR_HOST to apply to the emulator")
        infra_apply_topology(
            EMULATOR_PROJECT, processors_url, analytics_url, push_service_account, dry_run, local
        )
        return
    gcloud = Gcloud(dry_run)
    try:
        settings = DeploySettings(
            gcp_project=project,
            gcp_project_number=_project_number(gcloud, project, project_number),
            gcp_region=region,
            push_service_account=push_service_account
            or f"nba-push@{project}.iam.gserviceaccount.com",
            scheduler_service_account=f"nba-scheduler@{project}.iam.gserviceaccount.com",
            runtime_service_account="",  # each service its own identity, whatever the env says
            gcs_bucket=gcs_bucket,
        )
    except ValidationError as exc:
        raise _stop(settings_error(exc)) from None
    for step in project_steps(settings):
        gcloud.step(step)
    urls = {
        "processors": processors_url or settings.service_url("processors"),
        "analytics": analytics_url or settings.service_url("analytics"),
    }
    applier = TopologyApplier(project, urls, settings.push_service_account, connect=not dry_run)
    _apply_topology(applier, local, dry_run)
    for command in iam_commands(settings):
        gcloud.step(Step(command))
    _apply_scheduler(
        gcloud,
        project,
        region,
        settings.service_url("scrapers"),
        settings.scheduler_service_account,
    )
    _apply_monitoring(project, slack_channel, alert_email, dry_run)


def _apply_scheduler(
    gcloud: Gcloud, project: str, location: str, scrapers_url: str, service_account: str
) -> None:
    """Create or update the jobs of infra/scheduler/jobs.yaml (a dry run: as for a new project)."""
    listed = "" if gcloud.dry_run else gcloud.output(list_jobs_command(project, location))
    commands = SchedulerConfig.load().gcloud_commands(
        project, location, scrapers_url, service_account, set(str(listed).split())
    )
    for command in commands:
        gcloud.step(Step(command))


@infra_app.command("apply-scheduler")
def infra_apply_scheduler(
    project: Project,
    scrapers_url: Annotated[
        str, typer.Option(help="the scrapers service URL: job target and OIDC audience")
    ],
    service_account: Annotated[
        str, typer.Option(help="service account whose OIDC token the jobs send")
    ],
    location: Annotated[str, typer.Option(help="Cloud Scheduler location")] = "us-central1",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the commands for a new project, run nothing")
    ] = False,
) -> None:
    """Create or update the Cloud Scheduler jobs of infra/scheduler/jobs.yaml with gcloud."""
    _apply_scheduler(Gcloud(dry_run), project, location, scrapers_url, service_account)


@infra_app.command("apply-monitoring")
def infra_apply_monitoring(
    project: Project,
    slack_channel: SlackChannel = "",
    alert_email: AlertEmail = "",
    dry_run: DryRun = False,
) -> None:
    """Create or update the notification channels, alert policies and dashboard of
    infra/monitoring/ by display name (a dry run: the calls for a project that has none)."""
    _apply_monitoring(project, slack_channel, alert_email, dry_run)
