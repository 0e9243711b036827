"""Replay server settings, from `REPLAY_*` environment variables (or `.env`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReplaySettings(BaseSettings):
    """What changes the replayed data or its timing; everything else is fixed by the recordings."""

    model_config = SettingsConfigDict(
        env_prefix="REPLAY_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    seed: int = Field(2025, description="seed of the generated season; same seed, same season")
    latency_ms: int = Field(0, ge=0, description="delay added to every upstream response, ms")
    odds_api_credits: int = Field(
        100_000, ge=0, description="The Odds API credits the replayed account starts with"
    )
    host: str = Field("127.0.0.1", description="interface `python -m nba_pipeline.replay` binds")
    port: int = Field(8090, description="port `python -m nba_pipeline.replay` listens on")
