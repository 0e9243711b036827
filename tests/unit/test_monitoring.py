"""Monitoring as code: infra/monitoring/ read into the Monitoring API's own message types, and
applied by display name (created once, then updated in place); nothing needs a project."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.cloud.monitoring_dashboard_v1 import Dashboard
from google.cloud.monitoring_v3 import AlertPolicy, NotificationChannel
from typer.testing import CliRunner

from nba_pipeline.cli import app
from nba_pipeline.monitoring import (
    MONITORING_DIR,
    Call,
    Clients,
    MonitoringApplier,
    MonitoringConfigError,
    MonitoringSpec,
)
from nba_pipeline.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-never-printed"


def full_spec() -> MonitoringSpec:
    return MonitoringSpec.load("nba-prod", "#nba-alerts", TOKEN, "oncall@example.com")


def test_every_channel_policy_and_the_dashboard_are_monitoring_api_messages() -> None:
    spec = full_spec()
    assert [type(c) for c in spec.channels] == [NotificationChannel, NotificationChannel]
    assert {c.type_ for c in spec.channels} == {"slack", "email"}
    assert all(isinstance(p, AlertPolicy) for p in spec.policies)
    assert isinstance(spec.dashboard, Dashboard)
    names = [p.display_name for p in spec.policies]
    assert len(set(names)) == len(names) == 7
    for policy in spec.policies:
        [condition] = policy.conditions
        threshold = condition.condition_threshold
        assert threshold.filter and threshold.aggregations, policy.display_name
        assert policy.documentation.content, policy.display_name
    assert len(spec.dashboard.mosaic_layout.tiles) == 12


def test_a_field_the_api_does_not_know_is_refused_naming_the_file_and_policy(
    tmp_path: Path,
) -> None:
    shutil.copytree(MONITORING_DIR, tmp_path, dirs_exist_ok=True)
    policies = tmp_path / "policies.yaml"
    policies.write_text(policies.read_text().replace("thresholdValue: 0.05", "threshold: 0.05"))
    with pytest.raises(
        MonitoringConfigError, match=r"policies.yaml: nba: 5xx responses.*threshold"
    ):
        MonitoringSpec.load("nba-prod", directory=tmp_path)


def test_the_policies_watch_the_topologys_dead_letter_and_push_subscriptions() -> None:
    topology = Topology.load()
    dead_letter_topics = {sub.dead_letter_topic for sub in topology.push_subscriptions}
    dlq_subs = {
        pull.name for pull in topology.pull_subscriptions if pull.topic in dead_letter_topics
    }
    push_subs = {sub.name for sub in topology.push_subscriptions}
    watched = {
        policy.display_name: set(
            re.findall(r'"(nba-[a-z0-9-]+-sub)"', policy.conditions[0].condition_threshold.filter)
        )
        for policy in full_spec().policies
    }
    assert watched["nba: messages in a dead-letter queue"] == dlq_subs
    assert watched["nba: push backlog older than 10 minutes"] == push_subs


def test_each_policy_points_at_its_runbook_section() -> None:
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "operations.md").read_text(), re.M)
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    for policy in full_spec().policies:
        [anchor] = re.findall(r"docs/operations\.md#([a-z0-9-]+)", policy.documentation.content)
        assert anchor in anchors, (
            f"{policy.display_name}: no section #{anchor} in docs/operations.md"
        )


def test_a_channel_without_its_values_is_left_out() -> None:
    spec = MonitoringSpec.load("nba-prod", alert_email="oncall@example.com")
    assert [c.type_ for c in spec.channels] == ["email"]
    assert spec.left_out == ["nba-pipeline: Slack (needs SLACK_CHANNEL, SLACK_AUTH_TOKEN)"]


def test_dry_run_prints_the_exact_calls_and_never_the_slack_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_AUTH_TOKEN", TOKEN)
    result = CliRunner().invoke(
        app,
        ["infra", "apply-monitoring", "--project", "nba-prod", "--dry-run",
         "--slack-channel", "#nba-alerts", "--alert-email", "oncall@example.com"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == (
        ["CreateNotificationChannel"] * 2 + ["CreateAlertPolicy"] * 7 + ["CreateDashboard"]
    )
    assert TOKEN not in result.output and '"auth_token": "<redacted>"' in lines[0]
    assert '"name": "projects/nba-prod"' in lines[2]
    assert (
        '"notificationChannels": ["projects/nba-prod/notificationChannels/<nba-pipeline: Slack>"'
        in lines[2]
    )
    assert '"parent": "projects/nba-prod"' in lines[-1]


class FakeService:
    """One Monitoring API service in memory: list, create (assigning a name), update."""

    def __init__(self, collection: str) -> None:
        self.collection, self.items, self.calls = collection, {}, []  # type: ignore[var-annotated]

    def listing(self, request: dict[str, str]) -> list[Any]:
        return list(self.items.values())

    def create(self, request: dict[str, Any]) -> Any:
        message = next(v for k, v in request.items() if k not in {"name", "parent"})
        name = f"projects/nba-prod/{self.collection}/{len(self.items) + 1}"
        self.calls.append(("create", message.display_name))
        self.items[name] = SimpleNamespace(name=name, display_name=message.display_name, etag="e1")
        return self.items[name]

    def update(self, request: dict[str, Any]) -> Any:
        [message] = request.values()
        assert message.name in self.items, "an update names the object it replaces"
        self.calls.append(("update", message.display_name))
        return self.items[message.name]


def fake_clients() -> Clients:
    channels, policies, dashboards = (
        FakeService(c) for c in ("notificationChannels", "alertPolicies", "dashboards")
    )
    for service, noun, listing in (
        (channels, "notification_channel", "list_notification_channels"),
        (policies, "alert_policy", "list_alert_policies"),
        (dashboards, "dashboard", "list_dashboards"),
    ):
        setattr(service, listing, service.listing)
        setattr(service, f"create_{noun}", service.create)
        setattr(service, f"update_{noun}", service.update)
    return Clients(channels, policies, dashboards)  # fmt: skip


def test_apply_twice_creates_each_object_once_then_updates_it_in_place() -> None:
    clients = fake_clients()
    first: list[Call] = []
    MonitoringApplier("nba-prod", clients).apply(full_spec(), first.append)
    second: list[Call] = []
    MonitoringApplier("nba-prod", clients).apply(full_spec(), second.append)
    assert {c.rpc.removeprefix("Create") for c in first} == {
        "NotificationChannel",
        "AlertPolicy",
        "Dashboard",
    }
    assert all(c.rpc.startswith("Create") for c in first)
    assert [c.rpc.replace("Update", "Create") for c in second] == [c.rpc for c in first]
    assert (
        len(clients.channels.items),
        len(clients.policies.items),
        len(clients.dashboards.items),
    ) == (2, 7, 1)
    policy = second[2].request["alert_policy"]
    assert list(policy.notification_channels) == list(clients.channels.items), (
        "policies notify the channels"
    )
    assert second[-1].request["dashboard"].etag == "e1", (
        "a dashboard update carries the etag it read"
    )
