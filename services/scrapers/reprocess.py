"""`POST /admin/reprocess`: republish the completions of a date's raw files, asking no upstream.

After a parser fix, the files already in the bucket hold everything the fixed parser needs.
Each file's completion is rebuilt from the file's own `meta` and published again with a
`reprocess_id` attribute, under which the processors apply it once more and pass the id on
to analytics. Every file of the date is republished, in no particular arrival order: raw
loads keep, per natural key, the row of the file fetched last and do not rewrite identical
rows, so the date ends as the original loads left it, but for what the parser fix changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fastapi import APIRouter, Depends, HTTPException
from pydantic import ValidationError

from libs.common.auth import require_admin_identity
from libs.common.deps import PublisherDep, StoreDep
from libs.common.gcs import UNDATED, RawFileStore, StorageError
from libs.common.messages import REPROCESS_ATTRIBUTE, SCRAPER_COMPLETE_TOPIC, ScraperComplete
from libs.common.pubsub import Publisher, PublishError
from libs.common.rawfile import split_envelope
from libs.common.reprocess import (
    REPROCESS_WORKFLOW,
    FileProblem,
    RawFileRun,
    ReprocessRequest,
    ReprocessResult,
    check_scrapers,
    default_scrapers,
)
from libs.common.sources.registry import SOURCES
from libs.common.tracing import span_from, traceparent

log = logging.getLogger(__name__)

READS_IN_FLIGHT = 8
"""Raw files read at once: a date of props snapshots is a few hundred small reads."""


class FileError(ValueError):
    """A raw file that cannot be republished; reported for that file, not for the date."""


@dataclass(frozen=True)
class StoredRun:
    """A raw file, its run, and the completion rebuilt from its meta."""

    run: RawFileRun
    message: ScraperComplete


def read_run(store: RawFileStore, gcs_path: str, wanted: set[str]) -> StoredRun | None:
    """The run behind one raw file, None when the file is another scraper's."""
    try:
        document = store.read_json(gcs_path).document
    except StorageError as exc:
        raise FileError(str(exc)) from exc
    meta, _ = split_envelope(document)
    if meta is None:
        raise FileError("no meta envelope (scraper_name, execution_id, fetched_at)")
    name = str(meta["scraper_name"])
    if name not in SOURCES:
        raise FileError(f"meta.scraper_name '{name}' is not a registered scraper")
    if name not in wanted:
        return None
    source = SOURCES[name]
    request = meta.get("request")
    try:
        params = source.params_model.model_validate(
            request.get("params", {}) if isinstance(request, dict) else {}
        )
    except ValidationError as exc:
        raise FileError(f"meta does not describe a {name} run: {exc}") from exc
    message = ScraperComplete(
        scraper_name=name,
        execution_id=str(meta["execution_id"]),
        status="success",
        gcs_path=gcs_path,
        game_date=source.game_date(params),
        record_count=0,
        duration_seconds=0,
        workflow=REPROCESS_WORKFLOW,
        params=params.model_dump(mode="json"),
    )
    run = RawFileRun(execution_id=message.execution_id, scraper_name=name, gcs_path=gcs_path)
    return StoredRun(run, message)


def date_files(store: RawFileStore, day: dt.date, names: list[str], undated: bool) -> list[str]:
    """gs:// paths of the JSON files of each scraper's prefix under the date's folder (and,
    with `undated`, the undated files whose name stamps them fetched that day, UTC).

    Several scrapers may share a prefix (each file says whose it is in its meta), and an
    HTML page's `.html.gz` is read by the processors through its JSON wrapper.
    """
    folders = [f"{day.isoformat()}/"] + ([f"{UNDATED}/{day:%Y%m%d}T"] if undated else [])
    prefixes = sorted({SOURCES[name].gcs_prefix for name in names})
    return [
        store.gcs_path(name)
        for prefix in prefixes
        for folder in folders
        for name in store.list_names(f"{prefix}/{folder}")
        if name.endswith(".json")
    ]


def reprocess_date(
    store: RawFileStore, publisher: Publisher, body: ReprocessRequest, names: list[str]
) -> ReprocessResult:
    """Find the date's files of `names`, rebuild their completions, publish them."""
    paths = date_files(store, body.date, names, body.undated)
    errors: list[FileProblem] = []
    runs: list[StoredRun] = []

    def read(gcs_path: str) -> StoredRun | FileProblem | None:
        try:
            return read_run(store, gcs_path, set(names))
        except FileError as exc:
            return FileProblem(gcs_path=gcs_path, error=str(exc))

    with ThreadPoolExecutor(READS_IN_FLIGHT, thread_name_prefix="reprocess") as pool:
        for found in pool.map(read, paths):
            if isinstance(found, FileProblem):
                errors.append(found)
            elif found is not None:
                runs.append(found)
    reprocess_id = str(body.reprocess_id)
    if not body.dry_run:
        with span_from({}, "reprocess", reprocess_id=reprocess_id, game_date=str(body.date)):
            trace = traceparent()
            for stored in runs:
                attributes = stored.message.attributes(trace) | {REPROCESS_ATTRIBUTE: reprocess_id}
                publisher.publish(SCRAPER_COMPLETE_TOPIC, stored.message, attributes)
    log.info(
        "reprocess date",
        extra={"fields": {"reprocess_id": reprocess_id, "game_date": str(body.date),
                          "dry_run": body.dry_run, "republished": len(runs),
                          "errors": len(errors)}},
    )  # fmt: skip
    return ReprocessResult(
        date=body.date,
        reprocess_id=reprocess_id,
        dry_run=body.dry_run,
        republished=[stored.run for stored in runs],
        errors=errors,
    )


router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_identity)])
"""`POST /admin/reprocess`."""


@router.post(
    "/admin/reprocess",
    response_model=ReprocessResult,
    summary="Republish the completions of a game date's raw files (no upstream request)",
    responses={
        400: {"description": "an unknown scraper, or one never dated without `undated`"},
        503: {"description": "a publish failed; republishing is safe, retry the request"},
    },
)
def reprocess(body: ReprocessRequest, store: StoreDep, publisher: PublisherDep) -> ReprocessResult:
    try:
        names = check_scrapers(body.scrapers or default_scrapers(body.undated), body.undated)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        return reprocess_date(store, publisher, body, names)
    except PublishError as exc:
        raise HTTPException(503, f"{exc}; republishing is safe, retry the request") from None
