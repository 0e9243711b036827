"""Settings shared by every service: read from the environment and a git-ignored `.env`.

A service's own settings extend `CommonSettings` in that service (the scrapers' in
`services/scrapers/settings.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from libs.common.auth import AuthSettings
from libs.common.secrets import SecretsSettings
from libs.common.sources.props import CLOSING_LINE_MAX_AGE_MINUTES

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
