"""Work started on a thread, its outcome kept for the test to assert on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """`work` started on a thread; the list gets its result, or the exception it raised."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(work())
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome
