"""Shared fixtures. The local stack is started once per session, for real, or the run fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nba_pipeline.stack import LocalStack, Ports

RECORDINGS = Path(__file__).resolve().parents[1] / "nba_pipeline" / "replay" / "recordings"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Emulators, replay upstream and the three services on free ports.

    A part that cannot start raises: an end-to-end test is never skipped for a missing emulator.
    """
    workdir = tmp_path_factory.mktemp("stack")
    with LocalStack(ports=Ports.free(), workdir=workdir, project="nba-test") as running:
        yield running
