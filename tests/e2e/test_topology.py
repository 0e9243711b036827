"""`nba-pipeline infra apply-topology` against the real emulator: plan, create, idempotence, update."""

from __future__ import annotations

import uuid

import pytest
from google.cloud import pubsub_v1
from typer.testing import CliRunner

from nba_pipeline.cli import app
from nba_pipeline.stack import LocalStack
from nba_pipeline.topology import Topology

pytestmark = pytest.mark.e2e
runner = CliRunner()


def apply(project: str, *extra: str) -> list[str]:
    result = runner.invoke(app, ["infra", "apply-topology", "--project", project, *extra])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_apply_creates_everything_once_then_changes_nothing(stack: LocalStack) -> None:
    project = f"topology-{uuid.uuid4().hex[:8]}"
    topology = Topology.load()
    planned = apply(project, "--dry-run")
    assert len(planned) == len(topology.topics) + len(topology.push_subscriptions) + len(
        topology.pull_subscriptions
    )
    assert all(line.startswith("would create") for line in planned)
    assert apply(project) == [line.removeprefix("would ") for line in planned]
    assert apply(project) == ["nothing to change"]
    assert apply(project, "--dry-run") == ["nothing to change"]

    subscriber = pubsub_v1.SubscriberClient()
    sub = subscriber.get_subscription(
        request={"subscription": f"projects/{project}/subscriptions/nba-processors-sub"}
    )
    assert sub.push_config.push_endpoint == "http://127.0.0.1:8082/process"
    assert (
        sub.dead_letter_policy.dead_letter_topic
        == f"projects/{project}/topics/nba-scraper-complete-dlq"
    )
    assert sub.dead_letter_policy.max_delivery_attempts == 5


def test_apply_updates_a_changed_endpoint_in_place(stack: LocalStack) -> None:
    project = f"topology-{uuid.uuid4().hex[:8]}"
    apply(project)
    changed = apply(project, "--processors-url", "https://processors.example.run.app")
    assert changed == ["update subscription nba-processors-sub: push_config"]
    subscriber = pubsub_v1.SubscriberClient()
    sub = subscriber.get_subscription(
        request={"subscription": f"projects/{project}/subscriptions/nba-processors-sub"}
    )
    assert sub.push_config.push_endpoint == "https://processors.example.run.app/process"


def test_apply_without_project_or_emulator_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    result = runner.invoke(app, ["infra", "apply"])
    assert result.exit_code == 2
    assert "--project" in result.stderr
