"""Schemathesis against each service's OpenAPI, in process (ASGI), on the stack's emulators.

Every generated request must get a documented status and a body matching its schema, and
never a 5xx. Examples are few and derandomized so the run is short and repeatable. The
orchestration POSTs are left out: each positive case would run a whole day's workflows.
Only the "schema-valid data is accepted" check is off: what a schema cannot say (a scraper's
params depend on `scraper_name`, a push envelope's `data` is base64 of a message, a name must
be registered, `from` <= `to`) is refused with a documented 400/422 naming the field, by contract.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.python.asgi import shutdown_lifespans

from libs.common.settings import CommonSettings
from nba_pipeline.stack import LocalStack
from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from services.scrapers.app import create_app as scrapers_app

pytestmark = pytest.mark.e2e

HEAVY = (
    "/generate-daily-schedule",
    "/evaluate-workflows",
    "/evaluate-captures",
    "/run-cleanup",
    "/backfill-gaps",
)
FUZZ = settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def service_app(stack: LocalStack, service: str) -> FastAPI:
    """A fresh in-process app of `service` on the stack's shared clients."""
    if service == "scrapers":
        return scrapers_app(stack.settings(), stack.clients, stack.clock)
    common = CommonSettings(**stack.settings().model_dump(include=set(CommonSettings.model_fields)))
    factory = processors_app if service == "processors" else analytics_app
    return factory(common, stack.clients)


@pytest.mark.parametrize("service", ["scrapers", "processors", "analytics"])
# The live stack's own threads (retry jitter, pushes) draw from `random` while Hypothesis
# generates a case, which it reports as if the strategy had; the cases are not affected.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
def test_api_conforms_to_its_openapi(stack: LocalStack, service: str) -> None:
    app = service_app(stack, service)
    failures: dict[str, str] = {}
    try:  # schemathesis starts the app's lifespan (the scrapers' runner) on its first call
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.exclude(path=list(HEAVY)).get_all_operations():
            operation = result.ok()

            @FUZZ
            @given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            try:
                check()
            except Exception as exc:
                failures[operation.label] = str(exc)
    finally:  # else it stays up, holding the app and its clients, until the process exits
        shutdown_lifespans()
    assert not failures, "\n\n".join(f"{label}: {error}" for label, error in failures.items())
