"""A stand-in `Fetcher` for request-builder tests of every source family."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Answer = Callable[[str, dict[str, Any]], Any]


class FakeFetcher:
    """Answers each GET with `answer(path, params)`, or with `answer` itself when it is not
    callable, and records every call as (path, params) and its kind ("json" or "text")."""

    def __init__(self, answer: Answer | Any) -> None:
        self.answer: Answer = answer if callable(answer) else (lambda path, params: answer)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.kinds: list[str] = []

    def _call(self, kind: str, path: str, params: Any) -> Any:
        self.calls.append((path, dict(params or {})))
        self.kinds.append(kind)
        return self.answer(path, dict(params or {}))

    async def get_json(self, path: str, params: Any = None) -> Any:
        return self._call("json", path, params)

    async def get_text(self, path: str, params: Any = None) -> str:
        return str(self._call("text", path, params))
