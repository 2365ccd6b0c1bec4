"""Which days a crawl fetches and when a day counts as settled."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from paperfeed.crawler.window import backfill_days, crawl_window, is_settled, settles_at
from paperfeed.errors import CrawlError


def test_a_crawl_fetches_today_and_the_last_three_days_oldest_first() -> None:
    assert crawl_window(date(2026, 10, 1), recrawl_days=3) == (
        date(2026, 9, 28),
        date(2026, 9, 29),
        date(2026, 9, 30),
        date(2026, 10, 1),
    )
    assert crawl_window(date(2026, 10, 1), recrawl_days=0) == (date(2026, 10, 1),)


def test_backfill_covers_both_ends_and_refuses_a_reversed_range() -> None:
    assert len(backfill_days(date(2026, 9, 1), date(2026, 9, 30))) == 30
    with pytest.raises(CrawlError, match="--since 2026-09-30 is after --until 2026-09-01"):
        backfill_days(date(2026, 9, 30), date(2026, 9, 1))


def test_a_day_settles_six_hours_after_it_ends_in_utc() -> None:
    day = date(2026, 9, 28)

    assert settles_at(day, settle_hours=6) == datetime(2026, 9, 29, 6, tzinfo=UTC)
    assert not is_settled(day, crawled_at=datetime(2026, 9, 29, 5, 59, tzinfo=UTC), settle_hours=6)
    assert is_settled(day, crawled_at=datetime(2026, 9, 29, 6, tzinfo=UTC), settle_hours=6)


def test_settling_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_settled(date(2026, 9, 28), crawled_at=datetime(2026, 9, 30), settle_hours=6)
