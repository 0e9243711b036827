"""API keys and webhook URLs behind one interface (DESIGN §6).

Production reads Secret Manager (secret `odds-api-key`); a laptop reads the environment or a
git-ignored `.env` (`ODDS_API_KEY`). Values are `SecretStr`, so they never print, and
`redact` scrubs them from any text that might still carry one (errors, URLs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, Field, SecretStr, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

SECRET_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
"""Our secret names are kebab-case, so each maps to one environment variable."""
REDACTED = "***"


def env_name(secret: str) -> str:
    """`odds-api-key` -> `ODDS_API_KEY`."""
    if not SECRET_NAME.match(secret):
        raise ValueError(f"secret name {secret!r} is not kebab-case (e.g. odds-api-key)")
    return secret.upper().replace("-", "_")


class SecretSource(Protocol):
    """Where secrets come from; `get` is None for a secret that is not set."""

    def get(self, name: str) -> SecretStr | None: ...


class _EnvBase(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")


class EnvSecrets:
    """Secrets from the environment and `.env`, read by pydantic-settings like every setting."""

    def __init__(self, env_file: Path | str | None = ".env") -> None:
        self.env_file = env_file

    def get(self, name: str) -> SecretStr | None:
        field = env_name(name).lower()
        definition: dict[str, Any] = {field: (SecretStr | None, None)}
        model = create_model("EnvSecret", __base__=_EnvBase, **definition)
        value = cast(SecretStr | None, getattr(model(_env_file=self.env_file), field))
        if value is None:  # normal on a laptop: the replay upstreams need no key
            log.info("secret %s is not set: set %s in the environment or .env", name, field.upper())
        return value


class SecretManagerSecrets:
    """The latest version of each secret in one project's Secret Manager, fetched once."""

    def __init__(self, project: str, client: Any = None) -> None:
        self.project = project
        self._client = client
        self._cache: dict[str, SecretStr | None] = {}

    def _secret_client(self) -> Any:
        if self._client is None:
            from google.cloud import secretmanager  # heavy; only production needs it

            self._client = secretmanager.SecretManagerServiceClient()
        return self._client

    def get(self, name: str) -> SecretStr | None:
        env_name(name)  # validates the name
        if name not in self._cache:
            self._cache[name] = self._fetch(name)
        return self._cache[name]

    def _fetch(self, name: str) -> SecretStr | None:
        from google.api_core.exceptions import NotFound

        path = f"projects/{self.project}/secrets/{name}/versions/latest"
        try:
            response = self._secret_client().access_secret_version(name=path)
        except NotFound:
            log.warning(
                "secret %s not found in Secret Manager (%s): create it with "
                "`gcloud secrets create %s --data-file=-`",
                name,
                path,
                name,
            )
            return None
        # `echo key | gcloud secrets create` stores a trailing newline; keys never end in one.
        return SecretStr(response.payload.data.decode("utf-8").strip())


class SecretsSettings(BaseSettings):
    """Which backend serves secrets; services' settings inherit it."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    secrets_backend: Literal["env", "secret-manager"] = Field(
        "env", description="env: environment and .env (local); secret-manager: production"
    )
    gcp_project: str = Field("nba-local", description="Google Cloud project id")


def secrets_from_settings(
    settings: SecretsSettings | None = None, client: Any = None
) -> SecretSource:
    """The source `secrets_backend` names; `client` replaces the Secret Manager client."""
    settings = settings or SecretsSettings()
    if settings.secrets_backend == "secret-manager":
        return SecretManagerSecrets(settings.gcp_project, client)
    return EnvSecrets()


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def with_secrets(settings: SettingsT, source: SecretSource) -> SettingsT:
    """A copy whose empty `SecretStr` fields are filled from `source` (`odds_api_key` <- `odds-api-key`).

    A value already set (environment, `.env`) wins, so a laptop needs no Secret Manager.
    """
    update: dict[str, SecretStr] = {}
    for field, info in type(settings).model_fields.items():
        current = getattr(settings, field)
        if info.annotation is SecretStr and not current.get_secret_value():
            value = source.get(field.replace("_", "-"))
            if value is not None:
                update[field] = value
    return settings.model_copy(update=update) if update else settings


def redact(text: str, secrets: Iterable[SecretStr | str | None]) -> str:
    """`text` with every secret value (also URL-encoded) replaced by `***`."""
    values: set[str] = set()
    for secret in secrets:
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if raw:
            values |= {raw, quote(raw, safe=""), quote_plus(raw)}
    for value in sorted(values, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(value, REDACTED)
    return text
