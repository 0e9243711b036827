"""JSON logs in Cloud Logging's shape: one object per line with `severity` and `message`."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from libs.common.tracing import TraceLogFilter

TRACE_KEY = "logging.googleapis.com/trace"
PIPELINE_TRACE_KEY = "pipeline_trace"
"""The run's trace from scrape to analytics, when a push request's own trace differs from it."""


class CloudLoggingFormatter(logging.Formatter):
    """Formats a record as the JSON Cloud Logging parses; `extra={"fields": {...}}` adds keys."""

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
        }
        entry.update(getattr(record, "fields", {}))
        for key, attribute in ((TRACE_KEY, "trace_id"), (PIPELINE_TRACE_KEY, "pipeline_trace_id")):
            trace_id = getattr(record, attribute, None)
            if trace_id:
                entry[key] = f"projects/{self.project}/traces/{trace_id}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(project: str, level: str = "INFO") -> None:
    """Route the root logger to stdout as Cloud Logging JSON (idempotent)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter(project))
    handler.addFilter(TraceLogFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
