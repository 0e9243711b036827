"""`nba-pipeline deploy`: the exact gcloud commands, its settings, the manifests, the
Dockerfile (nothing is built or run)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from libs.common.settings import CommonSettings
from nba_pipeline.cli import app
from nba_pipeline.deploy import gcloud
from nba_pipeline.deploy.gcloud import render_manifest
from nba_pipeline.deploy.settings import SERVICES, DeploySettings

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "GCP_PROJECT": "nba-prod",
    "GCP_PROJECT_NUMBER": "123456789012",
    "GCP_REGION": "europe-west1",
    "IMAGE_TAG": "abc1234",
    "PUSH_SERVICE_ACCOUNT": "nba-push@nba-prod.iam.gserviceaccount.com",
    "SCHEDULER_SERVICE_ACCOUNT": "nba-scheduler@nba-prod.iam.gserviceaccount.com",
}
SCOPE = ["--project=nba-prod", "--region=europe-west1"]
AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
SCRAPERS_SA = "serviceAccount:nba-scrapers@nba-prod.iam.gserviceaccount.com"


def expected_service(service: str, invoker: str) -> list[list[str]]:
    image = f"europe-west1-docker.pkg.dev/nba-prod/nba/{service}:abc1234"
    return [
        ["gcloud", "builds", "submit", ".", *SCOPE, "--config=.local/deploy/cloudbuild.yaml",
         f"--substitutions=_SERVICE={service},_IMAGE={image}"],
        ["gcloud", "run", "services", "replace", f".local/deploy/{service}.yaml", *SCOPE],
        ["gcloud", "run", "services", "add-iam-policy-binding", f"nba-{service}", *SCOPE,
         f"--member=serviceAccount:{invoker}", "--role=roles/run.invoker"],
    ]  # fmt: skip


SCRAPERS = expected_service("scrapers", ENV["SCHEDULER_SERVICE_ACCOUNT"])
PROCESSORS = expected_service("processors", ENV["PUSH_SERVICE_ACCOUNT"])
ANALYTICS = expected_service("analytics", ENV["PUSH_SERVICE_ACCOUNT"])
IAM = [
    ["gcloud", "iam", "service-accounts", "add-iam-policy-binding", ENV["PUSH_SERVICE_ACCOUNT"],
     "--project=nba-prod", f"--member={AGENT}", "--role=roles/iam.serviceAccountTokenCreator"],
    ["gcloud", "pubsub", "topics", "add-iam-policy-binding", "nba-scraper-complete-dlq",
     "--project=nba-prod", f"--member={AGENT}", "--role=roles/pubsub.publisher"],
    ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", "nba-processors-sub",
     "--project=nba-prod", f"--member={AGENT}", "--role=roles/pubsub.subscriber"],
    ["gcloud", "pubsub", "topics", "add-iam-policy-binding", "nba-phase2-complete-dlq",
     "--project=nba-prod", f"--member={AGENT}", "--role=roles/pubsub.publisher"],
    ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", "nba-analytics-sub",
     "--project=nba-prod", f"--member={AGENT}", "--role=roles/pubsub.subscriber"],
    ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", "nba-scraper-complete-dlq-sub",
     "--project=nba-prod", f"--member={SCRAPERS_SA}", "--role=roles/pubsub.subscriber"],
    ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", "nba-phase2-complete-dlq-sub",
     "--project=nba-prod", f"--member={SCRAPERS_SA}", "--role=roles/pubsub.subscriber"],
]  # fmt: skip


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in DeploySettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DRY_RUN", "1")
    return ENV


def deploy(*args: str) -> Result:
    """`nba-pipeline deploy ARGS`, its output and exit code."""
    return CliRunner().invoke(app, ["deploy", *args])


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("scrapers", SCRAPERS),
        ("processors", PROCESSORS),
        ("analytics", ANALYTICS),
        ("all", SCRAPERS + PROCESSORS + ANALYTICS),
        ("iam", IAM),
    ],
)
def test_dry_run_prints_the_exact_commands(
    env: dict[str, str], target: str, expected: list[list[str]]
) -> None:
    result = deploy(target)
    assert result.exit_code == 0, result.output
    assert [shlex.split(line) for line in result.stdout.splitlines()] == expected


def test_the_dry_run_option_does_what_dry_run_1_does(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRY_RUN")
    result = deploy("processors", "--dry-run")
    assert result.exit_code == 0, result.output
    assert [shlex.split(line) for line in result.stdout.splitlines()] == PROCESSORS


def test_missing_settings_are_named_and_nothing_runs(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GCP_PROJECT_NUMBER")
    monkeypatch.setenv("SCHEDULER_SERVICE_ACCOUNT", " ")
    result = deploy("all")
    assert result.exit_code == 2 and result.stdout == ""
    assert "missing deploy settings: GCP_PROJECT_NUMBER, SCHEDULER_SERVICE_ACCOUNT" in result.stderr


def test_a_wrong_setting_is_named_with_its_value(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCP_PROJECT_NUMBER", "nba-prod")
    result = deploy("iam")
    assert result.exit_code == 2 and result.stdout == ""
    assert "GCP_PROJECT_NUMBER='nba-prod': String should match pattern" in result.stderr


def test_unknown_target_is_a_usage_error(env: dict[str, str]) -> None:
    result = deploy("everything")
    assert result.exit_code == 2
    assert "'everything' is not one of" in result.stderr


def test_defaults(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GCP_REGION")
    settings = DeploySettings()
    assert settings.gcp_region == "us-central1"
    assert (
        settings.service_account("processors") == "nba-processors@nba-prod.iam.gserviceaccount.com"
    )
    monkeypatch.setenv("RUNTIME_SERVICE_ACCOUNT", "nba-runtime@x.iam")
    assert {DeploySettings().service_account(s) for s in SERVICES} == {"nba-runtime@x.iam"}
    monkeypatch.delenv("IMAGE_TAG")

    def git(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert command == ["git", "rev-parse", "--short", "HEAD"]
        return subprocess.CompletedProcess(command, 0, "f00ba12\n")

    monkeypatch.setattr(subprocess, "run", git)
    assert DeploySettings().image_tag == "f00ba12", "the current commit's short hash"


def test_the_default_bucket_is_the_services_default(env: dict[str, str]) -> None:
    bucket = CommonSettings.model_fields["gcs_bucket"].default
    assert DeploySettings().gcs_bucket == bucket
    assert _env_of(yaml.safe_load(render_manifest("scrapers", DeploySettings())))["GCS_BUCKET"] == (
        bucket
    )


def test_run_stops_at_the_first_failure(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DRY_RUN")
    monkeypatch.setattr(gcloud, "ROOT", tmp_path)
    ran: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        ran.append(command)
        assert kwargs["cwd"] == tmp_path
        return subprocess.CompletedProcess(command, 0 if len(ran) == 1 else 7)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert deploy("processors").exit_code == 7
    assert ran == PROCESSORS[:2]
    rendered = tmp_path / ".local" / "deploy"
    assert yaml.safe_load((rendered / "processors.yaml").read_text())["kind"] == "Service"
    build = yaml.safe_load((rendered / "cloudbuild.yaml").read_text())
    assert build["steps"][0]["args"][:3] == ["build", "-f", "deploy/Dockerfile"]
    assert build["images"] == ["$_IMAGE"]


def _env_of(manifest: dict[str, Any]) -> dict[str, str]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("service", SERVICES)
def test_manifests_carry_env_probe_and_service_account(env: dict[str, str], service: str) -> None:
    settings = DeploySettings()
    manifest = yaml.safe_load(render_manifest(service, settings))
    assert manifest["apiVersion"] == "serving.knative.dev/v1"
    assert manifest["metadata"]["name"] == f"nba-{service}"
    template = manifest["spec"]["template"]
    spec = template["spec"]
    container = spec["containers"][0]
    assert spec["serviceAccountName"] == f"nba-{service}@nba-prod.iam.gserviceaccount.com"
    assert container["image"] == f"europe-west1-docker.pkg.dev/nba-prod/nba/{service}:abc1234"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert isinstance(spec["containerConcurrency"], int)
    assert {"autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"} <= set(
        template["metadata"]["annotations"]
    )
    ingress = "all" if service == "scrapers" else "internal"  # only Pub/Sub push calls the others
    assert manifest["metadata"]["annotations"]["run.googleapis.com/ingress"] == ingress
    values = _env_of(manifest)
    assert values["WAREHOUSE"] == "bigquery"
    assert values["GCP_PROJECT"] == "nba-prod"
    assert values["PUSH_AUTH_ENABLED"] == "true"
    assert values["SECRETS_BACKEND"] == "secret-manager"
    assert values["PUSH_AUDIENCE"] == f"https://nba-{service}-123456789012.europe-west1.run.app"
    assert values["PUSH_SERVICE_ACCOUNT"] == ENV["PUSH_SERVICE_ACCOUNT"]
    assert json.loads(values["ADMIN_IDENTITIES"]) == [ENV["SCHEDULER_SERVICE_ACCOUNT"]]
    assert "PORT" not in values  # reserved: Cloud Run sets it
    assert values["TRACE_EXPORTER"] == "cloud-trace"
    assert values["METRICS_EXPORTER"] == "cloud-monitoring"


def test_extra_admin_identities_reach_the_manifest_and_invoke_scrapers(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTRA_ADMIN_IDENTITIES", "ops@nba-prod.iam.gserviceaccount.com, ")
    settings = DeploySettings()
    manifest = yaml.safe_load(render_manifest("scrapers", settings))
    admins = [ENV["SCHEDULER_SERVICE_ACCOUNT"], "ops@nba-prod.iam.gserviceaccount.com"]
    assert json.loads(_env_of(manifest)["ADMIN_IDENTITIES"]) == admins
    ops_invoker = [
        *SCRAPERS[2][:-2],
        f"--member=serviceAccount:{admins[1]}",
        "--role=roles/run.invoker",
    ]
    assert gcloud.commands("scrapers", settings) == [*SCRAPERS, ops_invoker]
    assert gcloud.commands("processors", settings) == PROCESSORS


def test_dockerfile_installs_from_the_lock_and_runs_as_non_root() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text or "PYTHON_IMAGE=python:3.11-slim" in text
    assert "uv sync --locked --no-dev" in text
    user_lines = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines and all(u.split(":")[0] not in {"0", "root"} for u in user_lines)
    assert text.rindex("USER ") < text.index("CMD ")
    assert (
        "uvicorn services.${SERVICE}.app:create_app --factory --host 0.0.0.0 --port ${PORT:-8080}"
        in text
    )


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", ".local"} <= ignored
    assert not {"libs", "services", "nba_pipeline", "uv.lock", "pyproject.toml"} & ignored
