"""Raw files as the scrapers' runner writes them, and their completions: input for the
processors without running a scrape."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from libs.common.gcs import RawFileStore, object_name
from libs.common.messages import ScraperComplete
from libs.common.sources.registry import get_source

FETCHED = dt.datetime(2025, 2, 21, 4, tzinfo=dt.UTC)


def stored_run(
    store: RawFileStore,
    scraper: str,
    params: dict[str, Any],
    body: Any,
    meta: dict[str, Any] | None = None,
) -> ScraperComplete:
    """Write one run's raw file (`meta` changes its envelope) and return its completion."""
    source = get_source(scraper)
    typed = source.params_model.model_validate(params)
    day, execution_id = source.game_date(typed), str(uuid.uuid4())
    name = object_name(source.gcs_prefix, day, FETCHED, execution_id)
    envelope = {"scraper_name": scraper, "execution_id": execution_id,
                "fetched_at": FETCHED.isoformat(),
                "request": {"requests": [], "params": typed.model_dump(mode="json")}}  # fmt: skip
    store.write_json(name, {"meta": envelope | (meta or {}), "data": body})
    return ScraperComplete(
        scraper_name=scraper, execution_id=execution_id, status="success",
        gcs_path=store.gcs_path(name), game_date=day, record_count=1, duration_seconds=0,
        params=typed.model_dump(mode="json"),
    )  # fmt: skip
