"""Secrets: env and Secret Manager behind one interface; values never print; redaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound
from pydantic import SecretStr

from libs.common.secrets import (
    EnvSecrets,
    SecretManagerSecrets,
    SecretsSettings,
    env_name,
    redact,
    secrets_from_settings,
    with_secrets,
)
from services.scrapers.settings import ScraperSettings

KEY = "k3y-0dds-abc123"


@dataclass
class _Payload:
    data: bytes


@dataclass
class _Version:
    payload: _Payload


class FakeSecretManager:
    """Answers `access_secret_version` like the real client, from a dict; counts calls."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls: list[str] = []

    def access_secret_version(self, *, name: str) -> _Version:
        self.calls.append(name)
        secret = name.split("/")[3]
        if secret not in self.values:
            raise NotFound(f"Secret [{name}] not found or has no versions.")
        return _Version(_Payload(self.values[secret].encode()))


def test_names_map_to_environment_variables() -> None:
    assert env_name("odds-api-key") == "ODDS_API_KEY"
    assert env_name("slack-webhook-url") == "SLACK_WEBHOOK_URL"
    with pytest.raises(ValueError, match="kebab-case"):
        env_name("ODDS_API_KEY")


def test_env_secrets_read_environment_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("BDL_API_KEY=from-dotenv\nODDS_API_KEY=overridden\n")
    monkeypatch.setenv("ODDS_API_KEY", KEY)
    source = EnvSecrets(dotenv)
    odds, bdl = source.get("odds-api-key"), source.get("bdl-api-key")
    assert odds is not None and odds.get_secret_value() == KEY  # environment wins
    assert bdl is not None and bdl.get_secret_value() == "from-dotenv"


def test_env_secret_missing_is_none_with_a_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("ODDS_API_KEY", raising=False)
    with caplog.at_level(logging.INFO):
        assert EnvSecrets(None).get("odds-api-key") is None
    assert "odds-api-key is not set: set ODDS_API_KEY" in caplog.text


def test_secret_manager_reads_latest_version_once() -> None:
    client = FakeSecretManager({"odds-api-key": KEY + "\n"})
    source = SecretManagerSecrets("proj", client)
    first, second = source.get("odds-api-key"), source.get("odds-api-key")
    assert first is not None and first.get_secret_value() == KEY  # trailing newline dropped
    assert second is first
    assert client.calls == ["projects/proj/secrets/odds-api-key/versions/latest"]


def test_secret_manager_missing_is_none_with_a_log(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeSecretManager({})
    source = SecretManagerSecrets("proj", client)
    with caplog.at_level(logging.WARNING):
        assert source.get("bdl-api-key") is None
        assert source.get("bdl-api-key") is None
    assert len(client.calls) == 1
    assert "secret bdl-api-key not found in Secret Manager" in caplog.text
    assert "projects/proj/secrets/bdl-api-key/versions/latest" in caplog.text


def test_backend_is_chosen_by_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "secret-manager")
    monkeypatch.setenv("GCP_PROJECT", "prod-proj")
    client = FakeSecretManager({"odds-api-key": KEY})
    source = secrets_from_settings(SecretsSettings(_env_file=None), client)
    assert isinstance(source, SecretManagerSecrets) and source.project == "prod-proj"
    assert isinstance(secrets_from_settings(SecretsSettings(secrets_backend="env")), EnvSecrets)


def test_with_secrets_fills_only_empty_secret_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BDL_API_KEY", "set-locally")
    monkeypatch.delenv("ODDS_API_KEY", raising=False)
    settings = ScraperSettings(_env_file=None)
    filled = with_secrets(
        settings, SecretManagerSecrets("p", FakeSecretManager({"odds-api-key": KEY}))
    )
    assert filled.odds_api_key.get_secret_value() == KEY
    assert filled.bdl_api_key.get_secret_value() == "set-locally"
    assert settings.odds_api_key.get_secret_value() == ""  # the original is untouched


def test_settings_never_show_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODDS_API_KEY", KEY)
    settings = ScraperSettings(_env_file=None)
    secret = EnvSecrets(None).get("odds-api-key")
    for shown in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
        repr(secret),
        str(secret),
        f"{secret}",
    ):
        assert KEY not in shown
    assert settings.odds_api_key.get_secret_value() == KEY


def test_redact_replaces_every_occurrence_and_encoding() -> None:
    special = SecretStr("a+b/c=d")
    text = (
        f"GET https://api.the-odds-api.com/v4/sports?apiKey={KEY}&x=1 failed; key {KEY}; "
        "hook https://hooks.example/a%2Bb%2Fc%3Dd"
    )
    assert redact(text, [SecretStr(KEY), special, None, SecretStr("")]) == (
        "GET https://api.the-odds-api.com/v4/sports?apiKey=***&x=1 failed; key ***; "
        "hook https://hooks.example/***"
    )
    assert redact("nothing here", [SecretStr(KEY)]) == "nothing here"
