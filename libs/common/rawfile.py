"""The raw-file envelope of DESIGN §4: `{"meta": {...}, "data": <upstream body>}`."""

from __future__ import annotations

import datetime as dt
from typing import Any

OUR_META_KEYS = {"scraper_name", "execution_id", "fetched_at"}


def split_envelope(document: Any) -> tuple[dict[str, Any] | None, Any]:
    """(meta, body) of one of our files, or (None, document) for a bare upstream body.

    Upstream bodies can also be `{data, meta}` (balldontlie), so ours is recognised by the
    run identity its meta carries.
    """
    if isinstance(document, dict) and set(document) == {"meta", "data"}:
        meta = document["meta"]
        if isinstance(meta, dict) and set(meta) >= OUR_META_KEYS:
            return meta, document["data"]
    return None, document


def fetched_at(meta: dict[str, Any] | None) -> dt.datetime:
    """When the body was fetched (now, for a bare body with no envelope)."""
    if meta and meta.get("fetched_at"):
        return dt.datetime.fromisoformat(str(meta["fetched_at"]))
    return dt.datetime.now(dt.UTC)


def recorded_game_date(meta: dict[str, Any]) -> str | None:
    """The game date its run recorded in a file: the `date` of the params it ran with
    (`meta.request.params`; a run's game date is always that), `None` for an undated run."""
    request = meta.get("request")
    params = request.get("params") if isinstance(request, dict) else None
    day = params.get("date") if isinstance(params, dict) else None
    return None if day is None else str(day)
