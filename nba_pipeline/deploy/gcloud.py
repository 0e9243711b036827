"""A deploy's gcloud commands, the files they read, and running them (printed instead with
DRY_RUN=1); the canary release builds and runs its commands with the same pieces."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from string import Template
from typing import Literal

import yaml

from nba_pipeline.deploy.settings import ROOT, SERVICES, DeploySettings, cloud_run_name
from nba_pipeline.topology import Topology

Target = Literal["scrapers", "processors", "analytics", "all", "iam"]
"""A service, the three services, or the Pub/Sub service agent's grants (`iam`)."""
MANIFESTS = ROOT / "deploy" / "cloudrun"
RENDERED = Path(".local/deploy")
"""Where the rendered files go, under ROOT (git-ignored)."""
CLOUDBUILD_CONFIG: dict[str, object] = {
    "steps": [
        {
            "name": "gcr.io/cloud-builders/docker",
            "args": [
                "build",
                "-f",
                "deploy/Dockerfile",
                "--build-arg",
                "SERVICE=$_SERVICE",
                "-t",
                "$_IMAGE",
                ".",
            ],
        }
    ],
    "images": ["$_IMAGE"],
}
"""`gcloud builds submit --tag` only finds a Dockerfile at the root; this names ours."""


def render_manifest(service: str, settings: DeploySettings) -> str:
    """deploy/cloudrun/SERVICE.yaml with its placeholders filled (unknown ones raise)."""
    return Template((MANIFESTS / f"{service}.yaml").read_text()).substitute(
        REGION=settings.gcp_region,
        PROJECT=settings.gcp_project,
        IMAGE=settings.image(service),
        IMAGE_TAG=settings.image_tag,
        RUNTIME_SERVICE_ACCOUNT=settings.service_account(service),
        GCS_BUCKET=settings.gcs_bucket,
        PUSH_AUDIENCE=settings.service_url(service),
        PUSH_SERVICE_ACCOUNT=settings.push_service_account,
        ADMIN_IDENTITIES=json.dumps(settings.admin_identities()),
    )


def gcloud(command: str, *args: str) -> list[str]:
    """`gcloud COMMAND ARGS`, the command's words as typed in a shell (`"run services replace"`)."""
    return ["gcloud", *command.split(), *args]


def _scope(settings: DeploySettings, regional: bool = False) -> list[str]:
    return [f"--project={settings.gcp_project}", *([f"--region={settings.gcp_region}"] * regional)]


def _grant(
    settings: DeploySettings, kind: str, name: str, member: str, role: str, regional: bool = False
) -> list[str]:
    """`gcloud KIND add-iam-policy-binding NAME`: the service account `member` gets `role`."""
    return gcloud(
        f"{kind} add-iam-policy-binding",
        name,
        *_scope(settings, regional),
        f"--member=serviceAccount:{member}",
        f"--role={role}",
    )


def build_command(service: str, settings: DeploySettings) -> list[str]:
    """Build the service's image with Cloud Build (a canary release builds it the same way)."""
    return gcloud(
        "builds submit",
        ".",
        *_scope(settings, regional=True),
        f"--config={RENDERED / 'cloudbuild.yaml'}",
        f"--substitutions=_SERVICE={service},_IMAGE={settings.image(service)}",
    )


def service_commands(service: str, settings: DeploySettings) -> list[list[str]]:
    """Build the image, replace the Cloud Run service, let its callers invoke it."""
    manifest = str(RENDERED / f"{service}.yaml")
    return [
        build_command(service, settings),
        gcloud("run services replace", manifest, *_scope(settings, regional=True)),
    ] + [
        _grant(
            settings, "run services", cloud_run_name(service), invoker, "roles/run.invoker", True
        )
        for invoker in settings.invokers(service)
    ]


def iam_commands(settings: DeploySettings, topology: Topology | None = None) -> list[list[str]]:
    """The Pub/Sub service agent may mint the push SA's tokens, dead-letter and ack; the runtime
    SA may read the DLQs."""
    topology = topology or Topology.load()
    agent = settings.pubsub_agent
    commands = [
        _grant(
            settings,
            "iam service-accounts",
            settings.push_service_account,
            agent,
            "roles/iam.serviceAccountTokenCreator",
        )
    ]
    for sub in topology.push_subscriptions:
        commands += [
            _grant(
                settings, "pubsub topics", sub.dead_letter_topic, agent, "roles/pubsub.publisher"
            ),
            _grant(settings, "pubsub subscriptions", sub.name, agent, "roles/pubsub.subscriber"),
        ]
    dead_letter_topics = {sub.dead_letter_topic for sub in topology.push_subscriptions}
    runtime = settings.service_account("scrapers")
    commands += [  # the dashboard and the nba.dlq.depth gauge count what waits (and hand it back)
        _grant(settings, "pubsub subscriptions", pull.name, runtime, "roles/pubsub.subscriber")
        for pull in topology.pull_subscriptions
        if pull.topic in dead_letter_topics
    ]
    return commands


def target_services(target: Target) -> tuple[str, ...]:
    """The services a target deploys."""
    return SERVICES if target == "all" else () if target == "iam" else (target,)


def commands(target: Target, settings: DeploySettings) -> list[list[str]]:
    """The exact gcloud commands for a target, in order."""
    if target == "iam":
        return iam_commands(settings)
    return [c for service in target_services(target) for c in service_commands(service, settings)]


def write_rendered(services: Iterable[str], settings: DeploySettings) -> None:
    """The files the commands read: the Cloud Build config and the services' manifests."""
    out = ROOT / RENDERED
    out.mkdir(parents=True, exist_ok=True)
    (out / "cloudbuild.yaml").write_text(yaml.safe_dump(CLOUDBUILD_CONFIG, sort_keys=False))
    for service in services:
        (out / f"{service}.yaml").write_text(render_manifest(service, settings))


def run_command(command: list[str]) -> int:
    """Run one command from ROOT, echoed on stderr; its exit code (127: gcloud is missing)."""
    sys.stderr.write(f"+ {shlex.join(command)}\n")
    try:
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
    except FileNotFoundError:
        sys.stderr.write(f"error: {command[0]} not found; install the Google Cloud CLI\n")
        return 127
    if code != 0:
        sys.stderr.write(f"error: exit code {code} from: {shlex.join(command)}\n")
    return code


def dry_run() -> bool:
    """DRY_RUN=1 (or true, yes): print the commands, run nothing."""
    return os.environ.get("DRY_RUN", "").lower() in {"1", "true", "yes"}
