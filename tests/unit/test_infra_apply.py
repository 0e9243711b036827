"""`nba-pipeline infra apply --project P`: a project from nothing, printed exactly by a dry run,
each service with its own least-privilege identity, and safe to run again."""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

import pytest
from typer.testing import CliRunner

from libs.common.settings import CommonSettings
from nba_pipeline import infra
from nba_pipeline.cli import app
from nba_pipeline.project import SERVICE_PROJECT_ROLES, Step

ARGS = ["infra", "apply", "--project", "nba-prod", "--project-number", "123", "--dry-run",
        "--alert-email", "oncall@example.com"]  # fmt: skip
SCOPE = "--project=nba-prod"
BUCKET = f"gs://{CommonSettings.model_fields['gcs_bucket'].default}"
"""The services' default bucket: `infra apply` creates the one they would look for."""


@pytest.fixture
def printed() -> list[str]:
    result = CliRunner().invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def grants_of(printed: list[str], account: str) -> set[tuple[str, str]]:
    """(what, role) of every binding given to the account."""
    found = set()
    for line in printed:
        words = shlex.split(line) if line.startswith("gcloud") else []
        if f"--member=serviceAccount:{account}" in words:
            role = next(w.removeprefix("--role=") for w in words if w.startswith("--role="))
            found.add((" ".join(w for w in words[1:] if not w.startswith("--")), role))
    return found


def test_dry_run_prints_every_step_from_an_empty_project(printed: list[str]) -> None:
    def has(*command: str) -> bool:
        lines = [shlex.split(line) for line in printed if line.startswith("gcloud")]
        return any(words[:4] == list(command[:4]) and set(command) <= set(words) for words in lines)

    assert has("gcloud", "services", "enable", "run.googleapis.com")
    assert has("gcloud", "storage", "buckets", "create", BUCKET, SCOPE,
               "--location=us-central1", "--uniform-bucket-level-access",
               "--public-access-prevention", "--soft-delete-duration=7d")  # fmt: skip
    assert has("gcloud", "storage", "buckets", "update", BUCKET, SCOPE,
               "--lifecycle-file=infra/storage/lifecycle.json")  # fmt: skip
    for account in ("nba-scrapers", "nba-processors", "nba-analytics", "nba-scheduler", "nba-push"):
        assert has("gcloud", "iam", "service-accounts", "create", account)
    for secret in ("odds-api-key", "bdl-api-key", "slack-webhook-url", "smtp-password"):
        assert has("gcloud", "secrets", "create", secret, SCOPE, "--replication-policy=automatic")
    assert has("gcloud", "artifacts", "repositories", "create", "nba", SCOPE)
    assert 'CreateTopic {"name": "projects/nba-prod/topics/nba-scraper-complete"}' in printed
    [push] = [
        line
        for line in printed
        if '"name": "projects/nba-prod/subscriptions/nba-processors-sub"' in line
    ]
    assert '"push_endpoint": "https://nba-processors-123.us-central1.run.app/process"' in push
    assert '"service_account_email": "nba-push@nba-prod.iam.gserviceaccount.com"' in push
    assert has("gcloud", "iam", "service-accounts", "add-iam-policy-binding",
               "nba-push@nba-prod.iam.gserviceaccount.com")  # fmt: skip
    assert has("gcloud", "scheduler", "jobs", "create", "http", "nba-run-cleanup")
    assert any(line.startswith("CreateAlertPolicy ") for line in printed)
    assert printed[-1].startswith("CreateDashboard ")
    order = [next(i for i, line in enumerate(printed) if marker in line)
             for marker in ("services enable", "CreateTopic", "gcloud scheduler", "CreateAlertPolicy")]  # fmt: skip
    assert order == sorted(order), "APIs, then topology, then jobs, then monitoring"


def test_each_service_gets_only_what_it_uses(printed: list[str]) -> None:
    project_roles = {("projects add-iam-policy-binding nba-prod", r) for r in SERVICE_PROJECT_ROLES}
    bucket = {
        (
            f"storage buckets add-iam-policy-binding {BUCKET}",
            "roles/storage.objectUser",
        )
    }

    def topic(name: str) -> set[tuple[str, str]]:
        return {
            (f"pubsub topics add-iam-policy-binding {name}", r)
            for r in ("roles/pubsub.publisher", "roles/pubsub.viewer")
        }

    secrets = {
        (
            f"secrets add-iam-policy-binding {s}",
            "roles/secretmanager.secretAccessor",
        )
        for s in ("odds-api-key", "bdl-api-key", "slack-webhook-url", "smtp-password")
    }
    dlq_readers = {
        (f"pubsub subscriptions add-iam-policy-binding {s}", "roles/pubsub.subscriber")
        for s in ("nba-scraper-complete-dlq-sub", "nba-phase2-complete-dlq-sub")
    }

    def sa(service: str) -> str:
        return f"nba-{service}@nba-prod.iam.gserviceaccount.com"

    assert (
        grants_of(printed, sa("scrapers"))
        == project_roles | bucket | topic("nba-scraper-complete") | secrets | dlq_readers
    )
    assert grants_of(printed, sa("processors")) == project_roles | bucket | topic(
        "nba-phase2-complete"
    )
    assert grants_of(printed, sa("analytics")) == project_roles | bucket
    assert not any("roles/editor" in line or "roles/owner" in line for line in printed)


def test_a_dry_run_without_the_project_number_names_the_option() -> None:
    result = CliRunner().invoke(app, [*ARGS[:4], "--dry-run"], env={"GCP_PROJECT_NUMBER": ""})
    assert result.exit_code == 2
    assert "--project-number (or GCP_PROJECT_NUMBER)" in result.output


def test_a_project_number_that_is_no_number_is_named_before_anything_runs() -> None:
    args = [*ARGS[:4], "--project-number", "nba-prod", "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert "GCP_PROJECT_NUMBER='nba-prod'" in result.stderr


def test_a_second_run_keeps_what_exists_and_reapplies_bindings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[list[str]] = []

    def fake_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")  # every probe finds its resource

    monkeypatch.setattr(subprocess, "run", fake_run)
    gcloud = infra.Gcloud(dry_run=False)
    created = Step(
        ["gcloud", "secrets", "create", "odds-api-key"],
        ["gcloud", "secrets", "describe", "odds-api-key"],
    )
    binding = Step(["gcloud", "secrets", "add-iam-policy-binding", "odds-api-key"])
    gcloud.step(created)
    gcloud.step(binding)
    assert ran == [created.probe, binding.command]
    assert "# exists, kept: gcloud secrets create odds-api-key" in capsys.readouterr().out
