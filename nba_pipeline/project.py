"""A project from nothing: what `nba-pipeline infra apply --project P` creates, as gcloud
commands, so a dry run prints exactly what a real run does.

Creating commands come with a `describe` probe: a resource that exists is left as it is, so
the whole plan runs again without error. Bindings (`add-iam-policy-binding`) and updates are
idempotent by themselves. The Pub/Sub topology, scheduler jobs and monitoring reuse their own
appliers (nba_pipeline/topology.py, scheduler.py, monitoring.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from libs.common.messages import PHASE2_COMPLETE_TOPIC, SCRAPER_COMPLETE_TOPIC
from nba_pipeline.deploy.gcloud import gcloud
from nba_pipeline.deploy.settings import ARTIFACT_REPOSITORY, SERVICES, DeploySettings

ROOT = Path(__file__).resolve().parents[1]
LIFECYCLE_FILE = Path("infra/storage/lifecycle.json")
"""Relative to the repository, where the commands run."""
SOFT_DELETE = "7d"
"""Deleted or overwritten objects stay restorable this long (GCS's default, set explicitly)."""
APIS = (
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "pubsub.googleapis.com",
    "bigquery.googleapis.com",
    "storage.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "monitoring.googleapis.com",
    "cloudtrace.googleapis.com",
    "telemetry.googleapis.com",
)
SECRETS = ("odds-api-key", "bdl-api-key", "slack-webhook-url", "smtp-password")
"""Created empty (names only): `gcloud secrets versions add NAME --data-file=-` sets a value."""
IDENTITIES = {
    "nba-scheduler": "Cloud Scheduler's OIDC tokens to the scrapers service",
    "nba-push": "Pub/Sub push tokens to processors and analytics",
}
SERVICE_PROJECT_ROLES = (
    "roles/bigquery.dataEditor",  # each service creates the datasets and tables it writes
    "roles/bigquery.jobUser",
    "roles/telemetry.tracesWriter",  # spans as OTLP to the Telemetry API
    "roles/monitoring.metricWriter",
)
PUBLISHES = {"scrapers": SCRAPER_COMPLETE_TOPIC, "processors": PHASE2_COMPLETE_TOPIC}
"""The one topic each service publishes to (and looks up for /ready)."""
READS_SECRETS = {"scrapers": SECRETS}
BUILD_ROLES = (
    "roles/artifactregistry.writer",
    "roles/logging.logWriter",
    "roles/storage.objectViewer",
)
"""Cloud Build runs as the Compute Engine default service account: push images, write logs."""


@dataclass(frozen=True)
class Step:
    """One gcloud command; with a `probe`, skipped when the probe finds the resource."""

    command: list[str]
    probe: list[str] | None = None


def _gcloud(settings: DeploySettings, command: str, *args: str) -> list[str]:
    """`gcloud COMMAND ARGS --project=PROJECT`."""
    return gcloud(command, *args, f"--project={settings.gcp_project}")


def _created(settings: DeploySettings, kind: str, name: str, *flags: str) -> Step:
    """`gcloud KIND create NAME FLAGS`, skipped when `gcloud KIND describe NAME` succeeds."""
    return Step(
        _gcloud(settings, f"{kind} create", name, *flags),
        _gcloud(settings, f"{kind} describe", name),
    )


def _grant(
    settings: DeploySettings, kind: str, name: str, account: str, role: str, *flags: str
) -> Step:
    """`gcloud KIND add-iam-policy-binding NAME`: the service account `account` gets `role`."""
    member = f"--member=serviceAccount:{account}"
    return Step(
        _gcloud(settings, f"{kind} add-iam-policy-binding", name, member, f"--role={role}", *flags)
    )


def _bucket_steps(settings: DeploySettings) -> list[Step]:
    bucket = f"gs://{settings.gcs_bucket}"
    return [
        _created(
            settings,
            "storage buckets",
            bucket,
            f"--location={settings.gcp_region}",
            "--uniform-bucket-level-access",
            "--public-access-prevention",
            f"--soft-delete-duration={SOFT_DELETE}",
        ),
        Step(
            _gcloud(
                settings, "storage buckets update", bucket, f"--lifecycle-file={LIFECYCLE_FILE}"
            )
        ),
    ]


def _identity_steps(settings: DeploySettings) -> list[Step]:
    accounts = {f"nba-{service}": f"the {service} service" for service in SERVICES} | IDENTITIES
    return [  # created by id, described by email
        Step(
            _gcloud(
                settings, "iam service-accounts create", name, f"--display-name={name}: {purpose}"
            ),
            _gcloud(
                settings,
                "iam service-accounts describe",
                f"{name}@{settings.gcp_project}.iam.gserviceaccount.com",
            ),
        )
        for name, purpose in accounts.items()
    ]


def _service_grants(settings: DeploySettings, service: str) -> list[Step]:
    """Least privilege: project roles for the warehouse and telemetry, the rest per resource."""
    account = settings.service_account(service)
    project = settings.gcp_project
    steps = [
        _grant(settings, "projects", project, account, role, "--condition=None")
        for role in SERVICE_PROJECT_ROLES
    ]
    bucket = f"gs://{settings.gcs_bucket}"
    steps.append(_grant(settings, "storage buckets", bucket, account, "roles/storage.objectUser"))
    topic = PUBLISHES.get(service)
    if topic is not None:
        steps += [
            _grant(settings, "pubsub topics", topic, account, role)
            for role in ("roles/pubsub.publisher", "roles/pubsub.viewer")
        ]
    steps += [
        _grant(settings, "secrets", secret, account, "roles/secretmanager.secretAccessor")
        for secret in READS_SECRETS.get(service, ())
    ]
    return steps


def project_steps(settings: DeploySettings) -> list[Step]:
    """Everything before the topology, in order: APIs, bucket, identities, secrets, registry, grants."""
    build_account = f"{settings.gcp_project_number}-compute@developer.gserviceaccount.com"
    steps = [Step(_gcloud(settings, "services enable", *APIS))]
    steps += _bucket_steps(settings)
    steps += _identity_steps(settings)
    steps += [
        _created(settings, "secrets", secret, "--replication-policy=automatic")
        for secret in SECRETS
    ]
    steps.append(
        _created(
            settings,
            "artifacts repositories",
            ARTIFACT_REPOSITORY,
            f"--location={settings.gcp_region}",
            "--repository-format=docker",
        )
    )
    for service in SERVICES:
        steps += _service_grants(settings, service)
    steps += [
        _grant(settings, "projects", settings.gcp_project, build_account, role, "--condition=None")
        for role in BUILD_ROLES
    ]
    return steps
