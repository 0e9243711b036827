"""A push endpoint that does nothing but note arrival times: the emulator's bare push floor.

Run as its own process (`python -m nba_pipeline.bench.noop PORT`), so it shares no interpreter
with the stack. It imports only FastAPI and orjson, so its cold start is the floor of a
minimal FastAPI app.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from fastapi import FastAPI, Request, Response

TOPIC = "bench-noop"


def create_app() -> FastAPI:
    """Answers 204 to every push and remembers (seq attribute, arrival time).

    A `hold_ms` attribute makes it answer that much later, so the most pushes it ever had in
    flight at once shows how many the emulator sends concurrently per subscription.
    """
    app = FastAPI()
    arrivals: list[tuple[str, float]] = []
    in_flight = {"now": 0, "max": 0}

    @app.post("/push", status_code=204)
    async def push(request: Request) -> Response:
        attributes = orjson.loads(await request.body())["message"]["attributes"]
        arrivals.append((attributes["seq"], time.time()))
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(float(attributes.get("hold_ms", 0)) / 1000)
        in_flight["now"] -= 1
        return Response(status_code=204)

    @app.get("/in-flight-max")
    def in_flight_max() -> int:
        return in_flight["max"]

    @app.get("/arrivals")
    def get_arrivals() -> list[tuple[str, float]]:
        return arrivals

    @app.delete("/arrivals", status_code=204)
    def clear() -> None:
        arrivals.clear()
        in_flight["max"] = 0

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
