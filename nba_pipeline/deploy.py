"""Cloud Run deployment as plain gcloud commands: printed with DRY_RUN=1, otherwise run.

`python -m nba_pipeline.deploy TARGET` where TARGET is a service (scrapers, processors,
analytics), `all` (the three services) or `iam` (the Pub/Sub service agent's grants on the
topology's DLQ topics and push subscriptions; run it after `nba-pipeline infra apply`).
Settings come from environment variables; docs/deploy.md lists them.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from nba_pipeline.topology import Topology

SERVICES = ("scrapers", "processors", "analytics")
TARGETS = (*SERVICES, "all", "iam")
ARTIFACT_REPOSITORY = "nba"
ROOT = Path(__file__).resolve().parents[1]
"""Where the commands run; the rendered files go under it, in RENDERED (git-ignored)."""
MANIFESTS = ROOT / "deploy" / "cloudrun"
RENDERED = Path(".local/deploy")
CLOUDBUILD_CONFIG: dict[str, object] = {
    "steps": [
        {
            "name": "gcr.io/cloud-builders/docker",
            "args": [
                "build", "-f", "deploy/Dockerfile", "--build-arg", "SERVICE=$_SERVICE",
                "-t", "$_IMAGE", ".",
            ],
        }
    ],
    "images": ["$_IMAGE"],
}  # fmt: skip
"""`gcloud builds submit --tag` only finds a Dockerfile at the root; this names ours."""

REQUIRED = {
    "GCP_PROJECT": "project",
    "GCP_PROJECT_NUMBER": "project_number",
    "PUSH_SERVICE_ACCOUNT": "push_service_account",
    "SCHEDULER_SERVICE_ACCOUNT": "scheduler_service_account",
}


class DeployConfigError(ValueError):
    """A deploy setting is missing or wrong; the message names the variable."""


def _git_short_sha() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "latest"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "latest"


@dataclass(frozen=True)
class DeploySettings:
    """Everything the commands and manifests need; see `from_env` for the variable names."""

    project: str
    project_number: str
    push_service_account: str
    scheduler_service_account: str
    region: str = "us-central1"
    image_tag: str = "latest"
    runtime_service_account: str = ""
    """One identity for all three services; empty: each its own `nba-SERVICE` (least privilege)."""
    gcs_bucket: str = ""
    extra_admin_identities: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeploySettings:
        """Read the environment; raises DeployConfigError naming every missing variable."""
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            raise DeployConfigError(
                f"missing deploy settings: {', '.join(missing)} (see docs/deploy.md)"
            )
        values = {field: env[name].strip() for name, field in REQUIRED.items()}
        if not values["project_number"].isdigit():
            raise DeployConfigError("GCP_PROJECT_NUMBER must be the numeric project number")
        project = values["project"]
        return cls(
            **values,
            region=env.get("GCP_REGION") or "us-central1",
            image_tag=env.get("IMAGE_TAG") or _git_short_sha(),
            runtime_service_account=env.get("RUNTIME_SERVICE_ACCOUNT", "").strip(),
            gcs_bucket=env.get("GCS_BUCKET") or f"{project}-nba-scraped-data",
            extra_admin_identities=tuple(
                e.strip() for e in env.get("EXTRA_ADMIN_IDENTITIES", "").split(",") if e.strip()
            ),
        )

    @property
    def pubsub_agent(self) -> str:
        """The Pub/Sub service agent, which mints push tokens and moves messages to DLQs."""
        return f"service-{self.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

    def image(self, service: str) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{ARTIFACT_REPOSITORY}/{service}:{self.image_tag}"

    def service_account(self, service: str) -> str:
        """The identity a service runs as: its own account unless RUNTIME_SERVICE_ACCOUNT is set."""
        return (
            self.runtime_service_account
            or f"{cloud_run_name(service)}@{self.project}.iam.gserviceaccount.com"
        )

    def service_url(self, service: str) -> str:
        """Cloud Run's deterministic URL: known before the first deploy, used as the audience."""
        return f"https://{cloud_run_name(service)}-{self.project_number}.{self.region}.run.app"

    def admin_identities(self) -> list[str]:
        """Who may call admin routes: the scheduler SA, then any operators' accounts."""
        return [self.scheduler_service_account, *self.extra_admin_identities]

    def invokers(self, service: str) -> list[str]:
        """Who calls the service: scheduler and operators call scrapers, Pub/Sub the others."""
        return self.admin_identities() if service == "scrapers" else [self.push_service_account]


def cloud_run_name(service: str) -> str:
    return f"nba-{service}"


def render_manifest(service: str, settings: DeploySettings) -> str:
    """deploy/cloudrun/SERVICE.yaml with its placeholders filled (unknown ones raise)."""
    return Template((MANIFESTS / f"{service}.yaml").read_text()).substitute(
        REGION=settings.region,
        PROJECT=settings.project,
        IMAGE=settings.image(service),
        IMAGE_TAG=settings.image_tag,
        RUNTIME_SERVICE_ACCOUNT=settings.service_account(service),
        GCS_BUCKET=settings.gcs_bucket,
        PUSH_AUDIENCE=settings.service_url(service),
        PUSH_SERVICE_ACCOUNT=settings.push_service_account,
        ADMIN_IDENTITIES=json.dumps(settings.admin_identities()),
    )


def _scope(settings: DeploySettings, regional: bool = False) -> list[str]:
    return [f"--project={settings.project}", *([f"--region={settings.region}"] * regional)]


def _binding(member: str, role: str) -> list[str]:
    return [f"--member=serviceAccount:{member}", f"--role={role}"]


def build_command(service: str, settings: DeploySettings) -> list[str]:
    """Build the service's image with Cloud Build (a canary release builds it the same way)."""
    return ["gcloud", "builds", "submit", ".", *_scope(settings, regional=True),
            f"--config={RENDERED / 'cloudbuild.yaml'}",
            f"--substitutions=_SERVICE={service},_IMAGE={settings.image(service)}"]  # fmt: skip


def service_commands(service: str, settings: DeploySettings) -> list[list[str]]:
    """Build the image, replace the Cloud Run service, let its callers invoke it."""
    return [
        build_command(service, settings),
        ["gcloud", "run", "services", "replace", str(RENDERED / f"{service}.yaml"),
         *_scope(settings, regional=True)],
    ] + [
        ["gcloud", "run", "services", "add-iam-policy-binding", cloud_run_name(service),
         *_scope(settings, regional=True), *_binding(invoker, "roles/run.invoker")]
        for invoker in settings.invokers(service)
    ]  # fmt: skip


def iam_commands(settings: DeploySettings, topology: Topology | None = None) -> list[list[str]]:
    """The Pub/Sub service agent may mint the push SA's tokens, dead-letter and ack; the runtime SA may read the DLQs."""
    topology = topology or Topology.load()
    agent = settings.pubsub_agent
    commands = [
        ["gcloud", "iam", "service-accounts", "add-iam-policy-binding",
         settings.push_service_account, *_scope(settings),
         *_binding(agent, "roles/iam.serviceAccountTokenCreator")],
    ]  # fmt: skip
    for sub in topology.push_subscriptions:
        commands += [
            ["gcloud", "pubsub", "topics", "add-iam-policy-binding", sub.dead_letter_topic,
             *_scope(settings), *_binding(agent, "roles/pubsub.publisher")],
            ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", sub.name,
             *_scope(settings), *_binding(agent, "roles/pubsub.subscriber")],
        ]  # fmt: skip
    dead_letter_topics = {sub.dead_letter_topic for sub in topology.push_subscriptions}
    runtime = settings.service_account("scrapers")
    commands += [  # the dashboard and the nba.dlq.depth gauge count what waits (and hand it back)
        ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", pull.name,
         *_scope(settings), *_binding(runtime, "roles/pubsub.subscriber")]
        for pull in topology.pull_subscriptions
        if pull.topic in dead_letter_topics
    ]  # fmt: skip
    return commands


def commands(target: str, settings: DeploySettings) -> list[list[str]]:
    """The exact gcloud commands for a target, in order."""
    if target == "iam":
        return iam_commands(settings)
    if target == "all":
        return [command for service in SERVICES for command in service_commands(service, settings)]
    if target in SERVICES:
        return service_commands(target, settings)
    raise ValueError(f"unknown target '{target}': choose one of {', '.join(TARGETS)}")


def write_rendered(target: str, settings: DeploySettings) -> None:
    """The files the commands read: the Cloud Build config and the target's manifests."""
    out = ROOT / RENDERED
    out.mkdir(parents=True, exist_ok=True)
    (out / "cloudbuild.yaml").write_text(yaml.safe_dump(CLOUDBUILD_CONFIG, sort_keys=False))
    for service in SERVICES if target == "all" else [target] if target in SERVICES else []:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Print (DRY_RUN=1) or run the target's commands; stop at the first failure."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in TARGETS:
        sys.stderr.write(f"usage: python -m nba_pipeline.deploy {{{'|'.join(TARGETS)}}}\n")
        return 2
    target = args[0]
    try:
        settings = DeploySettings.from_env()
    except DeployConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    planned = commands(target, settings)
    if dry_run():
        sys.stdout.writelines(shlex.join(command) + "\n" for command in planned)
        return 0
    write_rendered(target, settings)
    for command in planned:
        if code := run_command(command):
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
