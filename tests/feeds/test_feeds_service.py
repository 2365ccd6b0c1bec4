"""The feeds over a real store: which papers, in which order, exclusions, export, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from feed_samples import store_days
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.errors import InputError
from paperfeed.feeds.export import export_feeds
from paperfeed.feeds.service import FeedOptions, FeedService
from paperfeed.store.db import session_scope
from paperfeed.store.models import SubscriberStatus
from paperfeed.store.subscribers import create_subscriber, find_by_email
from paperfeed.store.web_queries import expire_pending

OPTIONS = FeedOptions(
    public_url="https://paperfeed.example", list_name="paperfeed", days=7, max_items=100
)


def entry_ids(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    return [e.link.rsplit("/", 1)[-1] for e in parsed.entries]


def test_the_daily_feed_is_settled_days_newest_first_most_upvoted_first(engine: Engine) -> None:
    store_days(engine, days=3, settled=2)
    ids = entry_ids(FeedService(engine, OPTIONS).daily("rss").body)
    # Day 2 (22 Sep) before day 1; within a day by upvotes 40, 30, 20, 10; day 3 unsettled.
    assert ids == [
        "2609.01001", "2609.01003", "2609.01002", "2609.01000",
        "2609.00001", "2609.00003", "2609.00002", "2609.00000",
    ]  # fmt: skip


def test_the_daily_feed_keeps_at_most_max_items_and_the_newest_days(engine: Engine) -> None:
    store_days(engine, days=3, settled=3)
    options = FeedOptions(public_url="https://x.example", list_name="p", days=2, max_items=5)
    ids = entry_ids(FeedService(engine, options).daily("atom").body)
    assert len(ids) == 5
    assert all(i.startswith(("2609.02", "2609.01")) for i in ids)


def test_a_topic_feed_honours_exclusions_and_needs_something_to_match(engine: Engine) -> None:
    store_days(engine, days=2, settled=2)
    service = FeedService(engine, OPTIONS)
    both = entry_ids(service.topic('"speculative decoding"', "atom").body)
    text_only = entry_ids(service.topic('"speculative decoding" -vision', "atom").body)
    # Newest day first; within a day the better match first (either order is a match).
    assert set(both[:2]) == {"2609.01000", "2609.01001"}
    assert set(both[2:]) == {"2609.00000", "2609.00001"}
    assert text_only == ["2609.01000", "2609.00000"]
    parsed = feedparser.parse(service.topic('"speculative decoding" -vision', "rss").body)
    assert "Why:" in parsed.entries[0].summary
    self_link = next(link.href for link in parsed.feed.links if link.rel == "self")
    assert self_link == (
        "https://paperfeed.example/feeds/topic.rss?q=%22speculative%20decoding%22%20-vision"
    )
    for bad in ("", "   ", "-vision", "x" * 1001):
        with pytest.raises(InputError):
            service.topic(bad, "rss")


def test_an_empty_store_still_gives_valid_feeds(engine: Engine) -> None:
    service = FeedService(engine, OPTIONS)
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(service.daily(fmt).body)  # type: ignore[arg-type]
        assert parsed.bozo == 0
        assert parsed.entries == []


def test_export_writes_the_same_bytes_the_app_serves(engine: Engine, tmp_path: Path) -> None:
    store_days(engine, days=2, settled=2)
    settings = Settings(
        var_dir=tmp_path / "var", database_url=str(engine.url), public_url="https://p.example"
    )
    written = export_feeds(settings, tmp_path / "public", engine=engine)
    assert [p.name for p in written] == ["daily.rss", "daily.atom"]
    served = FeedService(engine, FeedOptions.from_settings(settings))
    assert written[0].read_bytes() == served.daily("rss").body
    assert written[1].read_bytes() == served.daily("atom").body
    assert not list((tmp_path / "public").glob(".*.tmp"))


def test_unconfirmed_sign_ups_expire_and_confirmed_ones_stay(engine: Engine) -> None:
    t0 = datetime(2026, 9, 1, 12, tzinfo=UTC)
    with session_scope(engine) as session:
        create_subscriber(session, email="old@example.com", interests="x", now=t0)
        create_subscriber(
            session, email="new@example.com", interests="x", now=t0 + timedelta(hours=40)
        )
        create_subscriber(session, email="yes@example.com", interests="x", now=t0, confirmed=True)
    with session_scope(engine) as session:
        removed = expire_pending(
            session, now=t0 + timedelta(hours=49), older_than=timedelta(hours=48)
        )
    assert removed == ["old@example.com"]
    with session_scope(engine) as session:
        assert find_by_email(session, "old@example.com") is None
        kept = find_by_email(session, "new@example.com")
        assert kept is not None
        assert kept.status == SubscriberStatus.PENDING
        assert find_by_email(session, "yes@example.com") is not None
