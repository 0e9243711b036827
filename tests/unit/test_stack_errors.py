"""Missing system parts give one-line errors that name what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from nba_pipeline import stack
from nba_pipeline.stack import StackError, pubsub_emulator_command


def test_missing_java_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="openjdk-17-jre-headless"):
        pubsub_emulator_command(8085)


def test_missing_emulator_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        stack.shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None
    )
    monkeypatch.setenv("CLOUDSDK_ROOT", str(tmp_path))
    monkeypatch.setattr(stack, "SDK_FALLBACK_ROOTS", ())
    with pytest.raises(StackError, match="google-cloud-cli-pubsub-emulator"):
        pubsub_emulator_command(8085)


def test_emulator_is_found_under_the_sdk_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    launcher = tmp_path / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    launcher.parent.mkdir(parents=True)
    launcher.touch()
    monkeypatch.setattr(
        stack.shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None
    )
    monkeypatch.setenv("CLOUDSDK_ROOT", str(tmp_path))
    assert pubsub_emulator_command(9999) == [str(launcher), "--host=127.0.0.1", "--port=9999"]


def test_emulator_runs_with_light_jvm_options_unless_the_user_sets_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLOUD_PUBSUB_EMULATOR_OPTS", raising=False)
    monkeypatch.setenv("SOME_USER_SETTING", "kept")
    env = stack.emulator_environment()
    assert env["CLOUD_PUBSUB_EMULATOR_OPTS"] == "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    assert env["SOME_USER_SETTING"] == "kept"
    monkeypatch.setenv("CLOUD_PUBSUB_EMULATOR_OPTS", "-Xmx256m")
    assert stack.emulator_environment()["CLOUD_PUBSUB_EMULATOR_OPTS"] == "-Xmx256m"
