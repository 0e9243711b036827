"""A push endpoint that does nothing but note arrival times: the emulator's bare push floor.

Run as its own process (`python -m nba_pipeline.bench.noop PORT`), so it shares no interpreter
with the stack. It imports only FastAPI and orjson, so its cold start is the floor of a
minimal FastAPI app.
"""

from __future__ import annotations

import sys
import time

import orjson
from fastapi import FastAPI, Request, Response

TOPIC = "bench-noop"


def create_app() -> FastAPI:
    """Answers 204 to every push and remembers (seq attribute, arrival time)."""
    app = FastAPI()
    arrivals: list[tuple[str, float]] = []

    @app.post("/push", status_code=204)
    async def push(request: Request) -> Response:
        envelope = orjson.loads(await request.body())
        arrivals.append((envelope["message"]["attributes"]["seq"], time.time()))
        return Response(status_code=204)

    @app.get("/arrivals")
    def get_arrivals() -> list[tuple[str, float]]:
        return arrivals

    @app.delete("/arrivals", status_code=204)
    def clear() -> None:
        arrivals.clear()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def command(port: int) -> list[str]:
    """The no-op app as a fresh process."""
    return [sys.executable, "-m", "nba_pipeline.bench.noop", str(port)]


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
