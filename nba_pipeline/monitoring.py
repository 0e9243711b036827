"""Monitoring as code: the notification channels, alert policies and dashboard of
infra/monitoring/, read into the Monitoring API's own message types and applied by display name.

Every object is matched to an existing one by `displayName`: found, it is updated in place;
missing, it is created. Running it again changes nothing that matches the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import proto
import yaml
from google.cloud.monitoring_dashboard_v1 import Dashboard
from google.cloud.monitoring_v3 import AlertPolicy, NotificationChannel

MONITORING_DIR = Path(__file__).resolve().parents[1] / "infra" / "monitoring"
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
"""Our placeholders are upper case; Monitoring's own (`${resource.label.x}`) are left alone."""
SECRET_LABELS = frozenset({"auth_token"})
"""Channel labels never printed (the Slack bot token)."""


class MonitoringConfigError(ValueError):
    """A file in infra/monitoring/ is not what the Monitoring API accepts; names file and object."""


def _fill(data: Any, values: Mapping[str, str], where: str) -> Any:
    """`data` with `${NAME}` replaced in every string; an unknown NAME is an error."""
    if isinstance(data, dict):
        return {key: _fill(value, values, where) for key, value in data.items()}
    if isinstance(data, list):
        return [_fill(item, values, where) for item in data]
    if not isinstance(data, str):
        return data

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise MonitoringConfigError(f"{where}: unknown placeholder ${{{match.group(1)}}}")
        return values[match.group(1)]

    return PLACEHOLDER.sub(one, data)


def _message(kind: type[Any], data: Mapping[str, Any], where: str) -> Any:
    """`data` as the API message `kind`; an unknown field or enum value is an error naming it."""
    try:
        return kind.from_json(json.dumps(data))
    except Exception as exc:
        raise MonitoringConfigError(f"{where}: not a valid {kind.__name__}: {exc}") from None


def _entries(path: Path) -> list[dict[str, Any]]:
    """The file's list of objects."""
    entries = yaml.safe_load(path.read_text())
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MonitoringConfigError(f"{path}: expected a list of objects")
    return entries


@dataclass
class MonitoringSpec:
    """What infra/monitoring/ declares for one project, as API messages."""

    channels: list[NotificationChannel]
    policies: list[AlertPolicy]
    dashboard: Dashboard
    left_out: list[str] = field(default_factory=list)
    """Channels not created because a value they need was not given."""

    @classmethod
    def load(
        cls,
        project: str,
        slack_channel: str = "",
        slack_auth_token: str = "",
        alert_email: str = "",
        directory: Path = MONITORING_DIR,
    ) -> MonitoringSpec:
        """Read and validate the three files; a channel lacking one of its values is left out."""
        values = {
            "PROJECT": project,
            "SLACK_CHANNEL": slack_channel,
            "SLACK_AUTH_TOKEN": slack_auth_token,
            "ALERT_EMAIL": alert_email,
        }
        channels, left_out = [], []
        for entry in _entries(directory / "channels.yaml"):
            where = f"channels.yaml: {entry.get('key')}"
            needed = PLACEHOLDER.findall(json.dumps(entry))
            if not all(values.get(name) for name in needed):
                left_out.append(f"{entry.get('displayName')} (needs {', '.join(needed)})")
                continue
            filled = {k: v for k, v in _fill(entry, values, where).items() if k != "key"}
            channels.append(_message(NotificationChannel, filled, where))
        policies = []
        for entry in _entries(directory / "policies.yaml"):
            where = f"policies.yaml: {entry.get('displayName')}"
            policies.append(_message(AlertPolicy, _fill(entry, values, where), where))
        board = yaml.safe_load((directory / "dashboard.yaml").read_text())
        dashboard = _message(Dashboard, _fill(board, values, "dashboard.yaml"), "dashboard.yaml")
        return cls(channels, policies, dashboard, left_out)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _printable(value: Any) -> Any:
    """A request field as the API's JSON, with secret channel labels redacted."""
    if not isinstance(value, proto.Message):
        return value
    data = json.loads(
        type(value).to_json(
            value, use_integers_for_enums=False, always_print_fields_with_no_presence=False
        )
    )
    for label in SECRET_LABELS & set(data.get("labels", {})):
        data["labels"][label] = "<redacted>"
    return data


@dataclass(frozen=True)
class Call:
    """One Monitoring API request: the RPC's name and its request fields."""

    rpc: str
    request: Mapping[str, Any]

    def __str__(self) -> str:
        fields = {_camel(key): _printable(value) for key, value in self.request.items()}
        return f"{self.rpc} {json.dumps(fields, sort_keys=True)}"


class Clients:
    """The three Monitoring API clients `apply` calls; tests give fakes with the same methods."""

    def __init__(self, channels: Any, policies: Any, dashboards: Any) -> None:
        self.channels, self.policies, self.dashboards = channels, policies, dashboards

    @classmethod
    def for_google_cloud(cls) -> Clients:
        """Clients with Application Default Credentials (`gcloud auth application-default login`)."""
        from google.cloud import monitoring_dashboard_v1, monitoring_v3

        return cls(
            monitoring_v3.NotificationChannelServiceClient(),
            monitoring_v3.AlertPolicyServiceClient(),
            monitoring_dashboard_v1.DashboardsServiceClient(),
        )


@dataclass(frozen=True)
class Kind:
    """How the API lists, creates and updates one type of object."""

    client: str
    noun: str
    field: str
    parent_key: str
    listing: str
    collection: str
    versioned: bool = False
    """Updates carry the etag read (dashboards), so a concurrent edit is refused, not lost."""


CHANNELS = Kind(
    "channels",
    "NotificationChannel",
    "notification_channel",
    "name",
    "list_notification_channels",
    "notificationChannels",
)
POLICIES = Kind(
    "policies", "AlertPolicy", "alert_policy", "name", "list_alert_policies", "alertPolicies"
)
DASHBOARDS = Kind(
    "dashboards",
    "Dashboard",
    "dashboard",
    "parent",
    "list_dashboards",
    "dashboards",
    versioned=True,
)


class MonitoringApplier:
    """Creates or updates one project's channels, policies and dashboard to match a spec."""

    def __init__(self, project: str, clients: Clients | None) -> None:
        """`clients` None is a dry run: nothing is read or changed, the project is taken as empty."""
        self.parent = f"projects/{project}"
        self.clients = clients

    def apply(self, spec: MonitoringSpec, emit: Callable[[Call], None]) -> None:
        """Channels first (every policy names them), then policies, then the dashboard; `emit`
        gets each call before it is made."""
        channel_names = self._upsert(CHANNELS, spec.channels, emit)
        for policy in spec.policies:
            policy.notification_channels = channel_names
        self._upsert(POLICIES, spec.policies, emit)
        self._upsert(DASHBOARDS, [spec.dashboard], emit)

    def _upsert(self, kind: Kind, messages: list[Any], emit: Callable[[Call], None]) -> list[str]:
        """Update each message whose display name exists, create the others; their names."""
        client = None if self.clients is None else getattr(self.clients, kind.client)
        existing = (
            {}
            if client is None
            else {
                item.display_name: item
                for item in getattr(client, kind.listing)(request={kind.parent_key: self.parent})
            }
        )
        names = []
        for message in messages:
            found = existing.get(message.display_name)
            if found is None:
                call = Call(
                    f"Create{kind.noun}", {kind.parent_key: self.parent, kind.field: message}
                )
            else:
                message.name = found.name
                if kind.versioned:
                    message.etag = found.etag
                call = Call(f"Update{kind.noun}", {kind.field: message})
            emit(call)
            if client is None:
                names.append(f"{self.parent}/{kind.collection}/<{message.display_name}>")
            else:
                names.append(getattr(client, _snake(call.rpc))(request=dict(call.request)).name)
        return names


def _snake(rpc: str) -> str:
    """`CreateAlertPolicy` -> `create_alert_policy`, the client method of an RPC."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", rpc).lower()
