"""The scrapers service's settings: upstreams, keys, proxies, breakers, orchestration, alerts."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from libs.common.settings import CommonSettings
from libs.common.sources.upstreams import UpstreamSettings


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
