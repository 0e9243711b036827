"""Invalid input described the same way everywhere: each bad field named, no input repeated.

Pydantic's errors carry the offending value. Echoed back, a NaN or Infinity makes the answer
itself unserialisable (a 500 instead of a 422), and a 900 KB value makes a 900 KB answer or
log line. So answers and logs name the field (its location, cut to a sane length) and the
problem, and leave the value out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_TEXT = 200
"""Characters of one message or location part kept in an answer or a log line."""
MAX_ERRORS = 20
"""Errors listed per answer; a list of 100,000 bad items is summarised after these."""


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut to `limit` characters with a note of how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def error_details(
    errors: Sequence[Mapping[str, Any]], prefix: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Pydantic errors as FastAPI's `{loc, msg, type}`, each `loc` under `prefix`, without
    the input; after MAX_ERRORS, one entry says how many more there were."""
    details: list[dict[str, Any]] = [
        {
            "loc": [*prefix, *(_loc_part(part) for part in error["loc"])],
            "msg": bounded(str(error["msg"])),
            "type": bounded(str(error["type"])),
        }
        for error in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        details.append({"loc": list(prefix), "msg": f"and {more} more errors", "type": "too_many"})
    return details


def describe(errors: Sequence[Mapping[str, Any]]) -> str:
    """The errors on one line, `field.path: problem; ...` (a push rejection's reason)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or '<body>'}: {detail['msg']}"
        for detail in error_details(errors)
    )


def _loc_part(part: Any) -> str | int:
    """A location part as JSON allows it; a dict key from the input is cut like any text."""
    return part if isinstance(part, int) else bounded(str(part), 64)
