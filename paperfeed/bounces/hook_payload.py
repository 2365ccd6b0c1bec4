"""Reading a provider's webhook body without trusting its shape.

Every webhook body is JSON a stranger could have sent (until its signature is checked) or a
provider could change: each value is read through these helpers, which answer None for a
missing or mistyped field instead of raising, and ``HookRefused`` carries the HTTP status a
body earns when it cannot be read at all. Knows nothing of HTTP frameworks or the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

# Bounce diagnostics are kept short in the event's detail: they are for an operator's eye.
DETAIL_CHARS = 300


class HookRefused(Exception):
    """A webhook call that is refused: ``status`` is the HTTP answer, ``reason`` its body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``, or ``HookRefused(400)``.

    ``json`` raises RecursionError on deeply nested input and ValueError on numbers with too
    many digits: a hostile body must earn a 400, never a 500.
    """
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise HookRefused(400, "the body is not JSON") from exc


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objects(value: object) -> list[Mapping[str, Any]]:
    """The JSON objects in ``value`` if it is a list (anything else in it is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value: object, limit: int = 998) -> str | None:
    """``value`` if it is a non-empty string (cut to ``limit``), else None."""
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def when(value: object) -> datetime | None:
    """A time from an ISO 8601 string or a Unix timestamp, in UTC; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    raw = text(value, 64)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def detail(*parts: object) -> str:
    """A short human-readable note from the string parts given (the diagnostic, a reason)."""
    return " | ".join(t for t in (text(part) for part in parts) if t)[:DETAIL_CHARS]


def address(value: object) -> str | None:
    """The bare address in ``value`` ("Name <a@b>" or "a@b"), None if there is none."""
    raw = text(value, 998)
    found = parseaddr(raw)[1] if raw else ""
    return found if "@" in found else None
