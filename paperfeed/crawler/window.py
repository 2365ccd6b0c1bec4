"""Which days a crawl fetches, and when a day's list can be considered final.

Owns the calendar arithmetic of re-crawling: today plus the last N days (lists grow during the
day and upvotes keep moving for days), backfill ranges, and "settled" (crawled at least S hours
after the day ended in UTC). Pure; no HTTP, no database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from paperfeed.errors import CrawlError


def crawl_window(today: date, *, recrawl_days: int) -> tuple[date, ...]:
    """Today and the ``recrawl_days`` days before it, oldest first."""
    return tuple(today - timedelta(days=back) for back in range(recrawl_days, -1, -1))


def backfill_days(since: date, until: date) -> tuple[date, ...]:
    """Every day from ``since`` to ``until`` inclusive, oldest first."""
    if until < since:
        raise CrawlError(
            f"--since {since} is after --until {until}; give the earlier day to --since"
        )
    return tuple(since + timedelta(days=offset) for offset in range((until - since).days + 1))


def settles_at(day: date, *, settle_hours: int) -> datetime:
    """The UTC moment after which a crawl of ``day`` counts as final."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) + timedelta(
        hours=settle_hours
    )


def is_settled(day: date, *, crawled_at: datetime, settle_hours: int) -> bool:
    """Whether a crawl at ``crawled_at`` (aware) came ``settle_hours`` after ``day`` ended."""
    if crawled_at.tzinfo is None:
        raise ValueError("crawled_at must be timezone-aware (UTC), not naive")
    return crawled_at >= settles_at(day, settle_hours=settle_hours)
