"""The local stack's own processes run as the launcher configures them."""

from __future__ import annotations

import psutil
import pytest

from nba_pipeline.stack import EMULATOR_JVM_OPTS, LocalStack

pytestmark = pytest.mark.e2e


def test_the_emulator_jvm_runs_with_the_stacks_options(stack: LocalStack) -> None:
    java = psutil.Process(stack.processes["pubsub-emulator"].pid)  # the launcher execs java
    assert set(EMULATOR_JVM_OPTS.split()) <= set(java.cmdline()), java.cmdline()
