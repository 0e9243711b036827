"""Deploy settings, read from the environment (docs/deploy.md lists them); every error names
its variable."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from libs.common.settings import CommonSettings

SERVICES = ("scrapers", "processors", "analytics")
ARTIFACT_REPOSITORY = "nba"
DEFAULT_REGION = "us-central1"
DEFAULT_BUCKET: str = CommonSettings.model_fields["gcs_bucket"].default
"""The services' own default, so both name the same bucket when GCS_BUCKET is unset."""
ROOT = Path(__file__).resolve().parents[2]
"""The repository: where the commands run."""
MISSING = {"missing", "string_too_short"}
"""Pydantic's error types for a variable that is unset or blank."""


def cloud_run_name(service: str) -> str:
    return f"nba-{service}"


def _git_short_sha() -> str:
    """The current commit's short hash: a redeploy of one commit replaces one image tag."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "latest"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "latest"


class ProjectSettings(BaseSettings):
    """Where the services run: all that moving a service's traffic needs, so a canary's
    promote or rollback never waits for the build's settings."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", str_strip_whitespace=True
    )

    gcp_project: str = Field(min_length=1, description="project id")
    gcp_region: str = Field(
        DEFAULT_REGION, min_length=1, description="Cloud Run, Artifact Registry, Cloud Build"
    )


class DeploySettings(ProjectSettings):
    """Everything the deploy's commands and manifests need."""

    gcp_project_number: str = Field(
        pattern=r"^[0-9]+$", description="project number: service URLs, Pub/Sub service agent"
    )
    push_service_account: str = Field(
        min_length=1, description="identity of push tokens; invoker of processors, analytics"
    )
    scheduler_service_account: str = Field(
        min_length=1, description="identity of Cloud Scheduler's tokens; admin of scrapers"
    )
    image_tag: str = Field(
        default_factory=_git_short_sha, description="image tag and reported service version"
    )
    runtime_service_account: str = Field(
        "", description="one identity for the three services; empty: each its own nba-SERVICE"
    )
    gcs_bucket: str = Field(DEFAULT_BUCKET, min_length=1, description="the raw-file bucket")
    extra_admin_identities: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated accounts also allowed on admin routes"
    )

    @field_validator("extra_admin_identities", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`a@x, b@y,` as people write it in a shell, rather than a JSON list."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @property
    def pubsub_agent(self) -> str:
        """The Pub/Sub service agent, which mints push tokens and moves messages to DLQs."""
        return f"service-{self.gcp_project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

    def image(self, service: str) -> str:
        registry = f"{self.gcp_region}-docker.pkg.dev/{self.gcp_project}/{ARTIFACT_REPOSITORY}"
        return f"{registry}/{service}:{self.image_tag}"

    def service_account(self, service: str) -> str:
        """The identity a service runs as: its own account unless RUNTIME_SERVICE_ACCOUNT is set."""
        return (
            self.runtime_service_account
            or f"{cloud_run_name(service)}@{self.gcp_project}.iam.gserviceaccount.com"
        )

    def service_url(self, service: str) -> str:
        """Cloud Run's deterministic URL: known before the first deploy, used as the audience."""
        return (
            f"https://{cloud_run_name(service)}-{self.gcp_project_number}.{self.gcp_region}.run.app"
        )

    def admin_identities(self) -> list[str]:
        """Who may call admin routes: the scheduler SA, then any operators' accounts."""
        return [self.scheduler_service_account, *self.extra_admin_identities]

    def invokers(self, service: str) -> list[str]:
        """Who calls the service: scheduler and operators call scrapers, Pub/Sub the others."""
        return self.admin_identities() if service == "scrapers" else [self.push_service_account]


def _variable(error: ErrorDetails) -> str:
    return ".".join(map(str, error["loc"])).upper()


def settings_error(exc: ValidationError) -> str:
    """Each bad setting by its variable name: the missing ones together, then the others with
    the value given and pydantic's reason."""
    errors = exc.errors()
    missing = [_variable(e) for e in errors if e["type"] in MISSING]
    wrong = [
        f"{_variable(e)}={e.get('input')!r}: {e['msg']}" for e in errors if e["type"] not in MISSING
    ]
    return "; ".join(
        ([f"missing deploy settings: {', '.join(missing)}"] if missing else []) + wrong
    )
