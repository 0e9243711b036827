"""The raw-file envelope of DESIGN §4: `{"meta": {...}, "data": <upstream body>}`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from libs.common.sources.base import ParseError


def split_envelope(document: Any, scraper_name: str) -> tuple[dict[str, Any] | None, Any]:
    """(meta, body) of one of our files, or (None, document) for a bare upstream body."""
    if isinstance(document, dict) and set(document) == {"meta", "data"}:
        meta = document["meta"]
        if not isinstance(meta, dict):
            raise ParseError(scraper_name, "meta", "expected an object")
        return meta, document["data"]
    return None, document


def fetched_at(meta: dict[str, Any] | None) -> dt.datetime:
    """When the body was fetched (now, for a bare body with no envelope)."""
    if meta and meta.get("fetched_at"):
        return dt.datetime.fromisoformat(str(meta["fetched_at"]))
    return dt.datetime.now(dt.UTC)
