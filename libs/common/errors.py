"""Errors that carry the status code a push answers them with (docs/contracts.md).

Each error class says what a retry can do, so the push layer reads the code off the error
instead of knowing every module that raises one: 400 and 422 where no retry can help (the
message ends in its dead-letter queue), 500 and 503 where one may. Any other error is a 500.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

UNKNOWN_ERROR_STATUS = 500
"""The code of an error that is not a `PipelineError`: retried, then dead-lettered."""


class PipelineError(Exception):
    """An error whose class decides the status code a push answers it with."""

    status_code: ClassVar[int] = UNKNOWN_ERROR_STATUS


def status_code_of(error: BaseException) -> int:
    """The status code a push answers `error` with."""
    return error.status_code if isinstance(error, PipelineError) else UNKNOWN_ERROR_STATUS


class UnknownScraperError(PipelineError, KeyError):
    """A scraper_name that is not registered; the message lists the known names."""

    status_code = 400

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown scraper_name '{self.name}'; known: {', '.join(self.known)}"
