"""Settings shared by every service: read from the environment and a git-ignored `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from libs.common.auth import AuthSettings
from libs.common.secrets import SecretsSettings
from libs.common.sources.props import CLOSING_LINE_MAX_AGE_MINUTES
from libs.common.sources.upstreams import UpstreamSettings

WorkLedgerKind = Literal["warehouse", "gcs"]
"""Where applied work is looked up (`libs/common/ledger.py`)."""


class CommonSettings(AuthSettings, SecretsSettings):
    """What all three services and the CLI need; each service's settings extend it."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    gcp_project: str = Field("nba-local", description="Google Cloud project id (any id locally)")
    gcs_bucket: str = Field("nba-scraped-data", description="bucket holding the raw scraped files")
    warehouse: Literal["duckdb", "bigquery"] = Field(
        "duckdb", description="duckdb: embedded file (local, tests); bigquery: production"
    )
    work_ledger: WorkLedgerKind = Field(
        None,  # resolved from `warehouse` by `_ledger_follows_warehouse`
        validate_default=True,
        description="where applied work is looked up (docs/contracts.md): warehouse "
        "(processed_messages; the default on DuckDB) or gcs (a marker object per unit of "
        "work in GCS_BUCKET; the default on BigQuery, where a lookup query is a job)",
    )
    duckdb_path: Path = Field(Path(".local/warehouse.duckdb"), description="DuckDB file")
    bigquery_location: str = Field("US", description="location of the BigQuery datasets")
    bigquery_combine_window_seconds: float = Field(
        0.25, ge=0, le=5, description="how long a BigQuery write waits for others to share its job"
    )
    publish_timeout_seconds: float = Field(30.0, description="wait for a Pub/Sub publish ack")
    log_level: str = Field("INFO", description="root log level")
    trace_exporter: Literal["none", "console", "otlp", "cloud-trace"] = Field(
        "none", description="where OpenTelemetry spans go"
    )
    metrics_exporter: Literal["none", "console", "otlp", "cloud-monitoring"] = Field(
        "none", description="where OpenTelemetry metrics go (exported every 60 s)"
    )
    service_version: str = Field("0.1.0", description="reported by /health/detailed")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="larger request bodies get 413 (default 1 MiB)"
    )
    closing_line_max_age_minutes: int = Field(
        CLOSING_LINE_MAX_AGE_MINUTES,
        ge=1,
        description="a closing line (last props snapshot before tip-off) taken longer than "
        "this before tip-off is flagged closing_stale in nba_analytics.player_game_lines",
    )

    @field_validator("work_ledger", mode="before")
    @classmethod
    def _ledger_follows_warehouse(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Unset: gcs on BigQuery, where a lookup query is a job (seconds, a minimum bill);
        warehouse on DuckDB, where it is a local query, quicker than a GCS request."""
        if value is None:
            return "gcs" if info.data.get("warehouse") == "bigquery" else "warehouse"
        return value


class ProxyProvider(BaseModel):
    """An outbound proxy; providers are tried in priority order (lowest first)."""

    name: str = Field(description="short name, used in circuit-breaker keys and logs")
    url: SecretStr | None = Field(description="proxy URL, may hold credentials (never logged)")
    priority: int = 0


class ScraperSettings(UpstreamSettings, CommonSettings):
    """Upstream base URLs and keys (one of each per `UPSTREAMS` entry; defaults are the real
    upstreams), and how the scrapers reach them."""

    http_timeout_seconds: float = Field(20.0, description="per-request upstream timeout")
    http_attempts: int = Field(3, ge=1, description="tries per request on timeouts, 429 and 5xx")
    proxies: list[ProxyProvider] = Field(
        default_factory=list, description='JSON list of {"name", "url", "priority"}; empty: direct'
    )
    breaker_fail_max: int = Field(3, description="consecutive failures that open a circuit")
    breaker_reset_seconds: float = Field(300, description="cooldown before a HALF_OPEN trial")
    workflows_file: Path = Field(
        Path(__file__).resolve().parents[2] / "config" / "workflows.yaml",
        description="orchestration config",
    )
    cleanup_lookback_minutes: int = Field(60, description="cleanup examines runs this recent")
    cleanup_grace_minutes: int = Field(
        30, description="and at least this old (time to be processed)"
    )
    backfill_budget: int = Field(20, description="failed scrapes /backfill-gaps re-runs per call")
    gap_alert_days: int = Field(
        3, ge=1, description="a scraper with open gaps on at least this many days alerts"
    )
    gap_alert_window_days: int = Field(
        7, ge=1, description="counted over this many days, ending today (US Eastern)"
    )
    state_max_age_seconds: float = Field(
        300,
        ge=0,
        description="how stale an instance's memory of open gaps and active alerts may get "
        "before it reads the warehouse again (one query each time it does)",
    )
    slack_webhook_url: SecretStr = Field(
        SecretStr(""), description="Slack incoming webhook for alerts"
    )
    smtp_host: str = Field("", description="SMTP server for alert email (empty: no email)")
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    alert_email_from: str = "nba-pipeline@localhost"
    alert_email_to: list[str] = Field(default_factory=list, description="alert recipients")
