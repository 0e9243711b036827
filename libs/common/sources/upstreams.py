"""One spec per upstream host, read by every layer that reaches it.

The scrapers' settings (a base-URL setting and a key setting per upstream), the fetcher
(where the key goes), the redaction of a failed run's error, the quota tally and the
dashboard, the local stack and the replay server (its prefix) all read `UPSTREAMS`, so a new
upstream is one entry here and the replay module that serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, SecretStr, create_model


@dataclass(frozen=True)
class QuotaHeaders:
    """The response headers in which an upstream reports its usage quota."""

    remaining: str
    used: str
    last: str


@dataclass(frozen=True)
class Credential:
    """An API key: the secret holding it, and the request header or query parameter it goes in."""

    secret: str
    """Secret Manager name (kebab-case); the setting and environment variable are its
    snake_case and UPPER_CASE forms (`odds-api-key`: `odds_api_key`, `ODDS_API_KEY`)."""
    where: Literal["header", "query"]
    name: str
    """The header or query parameter; query keys are added after the request is logged."""

    @property
    def setting(self) -> str:
        """The settings field holding the key."""
        return self.secret.replace("-", "_")


@dataclass(frozen=True)
class Upstream:
    """One upstream host: what a scraper's `Source.upstream` names."""

    name: str
    """Also the replay server's prefix (`/balldontlie`) and the base-URL setting's stem."""
    title: str
    base_url: str
    """The real upstream; the setting `<NAME>_BASE_URL` replaces it (the local stack's replay)."""
    credential: Credential | None = None
    quota: QuotaHeaders | None = None

    @property
    def base_url_setting(self) -> str:
        """The settings field holding the base URL."""
        return f"{self.name}_base_url"

    @property
    def replay_prefix(self) -> str:
        """Where the replay server serves this upstream."""
        return f"/{self.name}"


UPSTREAMS: dict[str, Upstream] = {
    spec.name: spec
    for spec in (
        Upstream(
            "oddsapi",
            "The Odds API",
            "https://api.the-odds-api.com",
            Credential("odds-api-key", "query", "apiKey"),
            QuotaHeaders("x-requests-remaining", "x-requests-used", "x-requests-last"),
        ),
        Upstream(
            "balldontlie",
            "balldontlie",
            "https://api.balldontlie.io",
            Credential("bdl-api-key", "header", "Authorization"),
        ),
        Upstream("espn", "ESPN", "https://site.api.espn.com"),
        Upstream("nbacom_cdn", "NBA.com CDN", "https://cdn.nba.com"),
        Upstream("nbacom_web", "NBA.com pages", "https://www.nba.com"),
        Upstream("bettingpros", "BettingPros", "https://api.bettingpros.com"),
    )
}
"""Every upstream by name. The Odds API reports its quota in every answer
(https://the-odds-api.com/liveapi/guides/v4/); balldontlie documents per-minute rate limits and
no quota headers; ESPN, NBA.com and BettingPros need no key and have no quota."""


def replay_settings(replay_url: str, key: str) -> dict[str, str]:
    """Settings that point every upstream at a replay server (its prefix under `replay_url`)
    and give each that needs a key `key` (the replay server accepts any)."""
    settings = {s.base_url_setting: f"{replay_url}{s.replay_prefix}" for s in UPSTREAMS.values()}
    keys = {s.credential.setting: key for s in UPSTREAMS.values() if s.credential is not None}
    return settings | keys


class UpstreamAccess(BaseModel):
    """What the scrapers read from their settings about an upstream; `UpstreamSettings` adds
    the fields."""

    def base_url(self, upstream: str) -> str:
        """The configured base URL of `upstream` (see `Source.upstream`)."""
        value: str = getattr(self, UPSTREAMS[upstream].base_url_setting)
        return value.rstrip("/")

    def api_key(self, upstream: str) -> str:
        """The key `upstream` is called with; "" when it needs none or none is set."""
        credential = UPSTREAMS[upstream].credential
        if credential is None:
            return ""
        key: SecretStr = getattr(self, credential.setting)
        return key.get_secret_value()

    def api_keys(self) -> list[str]:
        """Every upstream's key, for scrubbing from text that might carry one."""
        return [self.api_key(name) for name in UPSTREAMS]


def _settings_fields() -> dict[str, Any]:
    """A base-URL setting per upstream, and a key setting per upstream that needs one."""
    fields: dict[str, Any] = {}
    for spec in UPSTREAMS.values():
        fields[spec.base_url_setting] = (
            str,
            Field(spec.base_url, description=f"{spec.title} base URL"),
        )
        if spec.credential is not None:
            fields[spec.credential.setting] = (
                SecretStr,
                Field(
                    SecretStr(""),
                    description=f"{spec.title} key (secret {spec.credential.secret})",
                ),
            )
    return fields


if TYPE_CHECKING:  # its fields are made from UPSTREAMS; code reads them through the methods
    UpstreamSettings = UpstreamAccess
else:
    UpstreamSettings = create_model(
        "UpstreamSettings", __base__=UpstreamAccess, **_settings_fields()
    )
"""Mixed into the scrapers' settings: `ODDSAPI_BASE_URL`, `ODDS_API_KEY`, ... one of each per
upstream, defaults the real upstreams."""
