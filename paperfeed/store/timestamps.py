"""Timestamps read back from the database, made aware and in UTC whatever the backend did.

SQLite stores datetimes without their zone, and aggregates (``max(created_at)``) bypass the
column type there and come back as ISO strings; PostgreSQL returns aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime


def aware_utc(value: datetime | str) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    if isinstance(value, str):  # aggregates bypass the column type on SQLite
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
