"""Deleting what is no longer kept (unconfirmed sign-ups, old crawl logs), then ANALYZE.

The housekeeping job (``paperfeed.jobs.housekeeping``) runs these once a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, text
from sqlmodel import Session, col, select

from paperfeed.store.models import CrawlRun, Subscriber, SubscriberStatus


def expire_pending(session: Session, *, now: datetime, older_than: timedelta) -> list[str]:
    """Delete sign-ups still unconfirmed ``older_than`` after they were made; their addresses."""
    expired = (
        col(Subscriber.status) == SubscriberStatus.PENDING,
        col(Subscriber.created_at) < now - older_than,
    )
    # Read first, then delete the same rows: the addresses let the caller remove their
    # confirmation mail from a file outbox (nothing of them may stay behind).
    addresses = [a for a in session.exec(select(Subscriber.email).where(*expired)).all() if a]
    if addresses:
        session.execute(delete(Subscriber).where(*expired))
    return addresses


def prune_crawl_runs(session: Session, *, now: datetime, keep: timedelta) -> int:
    """Delete crawl log rows older than ``keep``; the papers and listings stay."""
    result = session.execute(delete(CrawlRun).where(col(CrawlRun.started_at) < now - keep))
    return int(result.rowcount)  # type: ignore[attr-defined]


def analyze(engine: Engine) -> None:
    """Refresh the query planner's statistics (SQLite: PRAGMA optimize; PostgreSQL: ANALYZE)."""
    statement = "PRAGMA optimize" if engine.dialect.name == "sqlite" else "ANALYZE"
    with engine.connect() as connection:
        connection.execute(text(statement))
        connection.commit()
