"""One scraper run: fetch, store the raw file once, log the run, publish its completion."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import httpx
from opentelemetry.trace import get_current_span
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from libs.common.audit import record_run
from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.gcs import object_name
from libs.common.messages import SCRAPER_COMPLETE_TOPIC, Phase, RunResult
from libs.common.metrics import count_run, observe_credits
from libs.common.pubsub import PublishError
from libs.common.quota import QuotaTally
from libs.common.secrets import redact
from libs.common.sources.base import ParseContext, Source
from libs.common.sources.registry import get_source
from libs.common.tracing import span_from, traceparent
from services.scrapers.alerts import AlertBook
from services.scrapers.breakers import BreakerRegistry
from services.scrapers.failures import OpenGaps, track_run
from services.scrapers.fetcher import DIRECT, HttpFetcher
from services.scrapers.settings import ScraperSettings

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs each URL at INFO, apiKey included


def validate_params(source: Source, params: dict[str, Any]) -> BaseModel:
    """The scraper's params model (pydantic ValidationError names the bad field)."""
    return source.params_model.model_validate(params)


class ScrapeRunner:
    """Runs scrapers with one pooled HTTP client for the process."""

    def __init__(
        self, settings: ScraperSettings, clients: Clients, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.clock = clock or Clock()
        self.breakers = BreakerRegistry(
            clients.warehouse,
            settings.breaker_fail_max,
            settings.breaker_reset_seconds,
            self.clock,
        )
        self.gaps = OpenGaps(
            clients.warehouse, self.clock, dt.timedelta(seconds=settings.state_max_age_seconds)
        )
        self.alerts = AlertBook(settings, clients.warehouse, self.clock)
        providers = settings.proxies or [DIRECT]
        self.http = {
            provider.name: httpx.AsyncClient(
                timeout=settings.http_timeout_seconds,
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
                follow_redirects=True,
                proxy=provider.url.get_secret_value() if provider.url else None,
            )
            for provider in providers
        }

    async def run(
        self, scraper_name: str, params: dict[str, Any], workflow: str, scheduled: bool = False
    ) -> RunResult:
        """Run once. Upstream, parse and publish failures are recorded as failed runs, not raised;
        a `scheduled` run (one no person is watching) that fails sends a critical alert."""
        source = get_source(scraper_name)
        typed = validate_params(source, params)
        with span_from(
            {}, f"{Phase.SCRAPE.action} {source.name}", scraper_name=source.name, workflow=workflow
        ):
            run = await self._run(source, typed, workflow)
        if run.status != "failed":
            self.alerts.recovered(source.name)
        elif scheduled:
            await run_in_threadpool(self.alerts.run_failed, run, run.error_class)
        return run

    async def _run(self, source: Source, typed: BaseModel, workflow: str) -> RunResult:
        execution_id = str(uuid.uuid4())
        get_current_span().set_attribute("execution_id", execution_id)
        started = time.monotonic()
        started_at = self.clock.now()
        fetcher = HttpFetcher(self.http, self.settings, source.upstream, self.breakers)
        game_date = source.game_date(typed)
        run = RunResult(
            scraper_name=source.name,
            execution_id=execution_id,
            status="failed",
            gcs_path=None,
            game_date=game_date,
            record_count=0,
            duration_seconds=0,
            workflow=workflow,
            params=typed.model_dump(mode="json"),
        )
        error: Exception | None = None
        try:
            body = await source.fetch(fetcher, typed)
            await run_in_threadpool(self._store_and_parse, source, body, fetcher, run, started_at)
        except Exception as exc:
            error = exc
        run.duration_seconds = round(time.monotonic() - started, 3)
        if error is not None:
            run.status = "failed"
            run.error_message = redact(f"{type(error).__name__}: {error}", self.settings.api_keys())
            log.warning(
                "scraper run failed",
                extra={
                    "fields": {
                        "scraper_name": source.name,
                        "execution_id": execution_id,
                        "error": run.error_message,
                    }
                },
            )
        run.message_id = await run_in_threadpool(
            self._log_and_publish, run, started_at, error, traceparent(), fetcher.quota
        )
        count_run(
            Phase.SCRAPE, source.name, run.status, run.record_count, run.duration_seconds,
            execution_id=execution_id, workflow=workflow, game_date=run.game_date,
        )  # fmt: skip
        if fetcher.quota.remaining is not None:
            observe_credits(source.upstream, fetcher.quota.remaining)
        run.error_class = type(error).__name__ if error else None
        if not run.published and error is None:
            run.error_class = PublishError.__name__  # the only error the publisher raises
        return run

    def _store_and_parse(
        self,
        source: Source,
        body: Any,
        fetcher: HttpFetcher,
        run: RunResult,
        fetched_at: dt.datetime,
    ) -> None:
        """Write the raw file, then parse it to count records; a parse error keeps the file."""
        name = object_name(source.gcs_prefix, run.game_date, fetched_at, run.execution_id)
        meta = {
            "scraper_name": source.name,
            "execution_id": run.execution_id,
            "fetched_at": fetched_at.isoformat(),
            "request": {"requests": fetcher.requests, "params": run.params},
        }
        store = self.clients.store
        if source.body_format == "html":
            html_name = name.removesuffix(".json") + ".html.gz"
            store.write_gzip(html_name, body, "text/html")
            meta["body_file"] = store.gcs_path(html_name)
            store.write_json(name, {"meta": meta, "data": None})
        else:
            store.write_json(name, {"meta": meta, "data": body})
        run.gcs_path = store.gcs_path(name)
        context = ParseContext(
            run.execution_id, run.gcs_path, run.game_date, fetched_at, run.params
        )
        run.rows = source.parse(body, context)
        run.record_count = len(run.rows)
        run.status = "success" if run.rows else "no_data"

    def _log_and_publish(
        self,
        run: RunResult,
        started_at: dt.datetime,
        error: Exception | None,
        trace: str | None,
        quota: QuotaTally,
    ) -> str | None:
        """Log the run, then publish its completion: the message id, or None when the publish
        failed, which fails the run.

        The run is logged before it is published, and the log is append-only, so a failed
        publish appends a second row (log_seq 2, status failed) that supersedes the first.
        Its gap is tracked once: a failed run's before the publish, so it survives a failed
        publish too; any other run's after, so an earlier gap closes only once the
        processors get the file, and a publish failure opens one for the backfiller.
        """
        warehouse = self.clients.warehouse
        fields = {
            **run.model_dump(exclude={"schema_version", "published_at", "message_id"}),
            "error_class": type(error).__name__ if error else None,
            "started_at": started_at,
            "finished_at": self.clock.now(),
            "log_seq": 1,
            **quota.columns(),
        }
        failed_before_publish = run.status == "failed"
        record_run(warehouse, **fields)
        if failed_before_publish:
            track_run(warehouse, self.gaps, run, fields["error_class"], fields["finished_at"])
        try:
            message_id = self.clients.publisher.publish(
                SCRAPER_COMPLETE_TOPIC, run.completion(), run.attributes(trace)
            )
        except Exception as exc:
            run.status = "failed"
            run.error_message = "; ".join(
                filter(None, [run.error_message, f"publish failed: {exc}"])
            )
            superseding = fields | {
                "status": "failed",
                "error_class": type(exc).__name__,
                "error_message": run.error_message,
                "log_seq": 2,
            }
            record_run(warehouse, **superseding)
            if not failed_before_publish:
                track_run(warehouse, self.gaps, run, type(exc).__name__, self.clock.now())
            log.error(
                "scraper run's completion not published; the run is recorded as failed",
                extra={
                    "fields": {
                        "scraper_name": run.scraper_name,
                        "execution_id": run.execution_id,
                        "error": run.error_message,
                    }
                },
            )
            return None
        if not failed_before_publish:
            track_run(warehouse, self.gaps, run, None, fields["finished_at"])
        return message_id

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        for client in self.http.values():
            await client.aclose()
