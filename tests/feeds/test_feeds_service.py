"""The feeds over a real store: which papers, in which order, exclusions, export, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.errors import InputError
from paperfeed.feeds.export import export_feeds
from paperfeed.feeds.service import FeedOptions, FeedService
from paperfeed.store.cleanup import expire_pending
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.models import SubscriberStatus
from paperfeed.store.subscribers import create_subscriber, find_by_email
from tests.feeds.feed_samples import FIRST_DAY, settled_at, store_day, store_days

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
    before = datetime.now(UTC).replace(microsecond=0)
    for fmt in ("rss", "atom"):
        feed = service.daily(fmt)  # type: ignore[arg-type]
        parsed = feedparser.parse(feed.body)
        assert parsed.bozo == 0
        assert parsed.entries == []
        # Nothing was ever crawled: built now (not a made-up date such as 2000-01-01).
        built = datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC)
        assert before <= built <= datetime.now(UTC)
        assert feed.last_modified == built


def test_a_feed_with_nothing_settled_yet_is_dated_by_the_newest_crawl(engine: Engine) -> None:
    crawled = settled_at(FIRST_DAY) + timedelta(hours=2)
    store_day(engine, 0, settled=False, at=crawled)
    for fmt in ("rss", "atom"):
        feed = FeedService(engine, OPTIONS).daily(fmt)  # type: ignore[arg-type]
        parsed = feedparser.parse(feed.body)
        assert parsed.entries == []
        assert parsed.feed.updated_parsed[:6] == crawled.timetuple()[:6]
        assert feed.last_modified == crawled


def published(body: bytes) -> dict[str, datetime]:
    """Each item's id and date."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    return {e.id: datetime(*e.published_parsed[:6], tzinfo=UTC) for e in parsed.entries}


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_items_count_down_by_rank_from_their_day_and_keep_ids_and_dates_when_rebuilt(
    engine: Engine, fmt: str
) -> None:
    store_days(engine, days=2, settled=2)
    first = published(FeedService(engine, OPTIONS).daily(fmt).body)  # type: ignore[arg-type]
    ids = list(first)
    assert ids[0] == "tag:paperfeed.example,2026:daily/2026-09-22/2609.01001"
    assert len(set(ids)) == len(ids) == 8
    # The top paper of a day is dated when the day settled, each next one a second earlier.
    day2, day1 = settled_at(FIRST_DAY + timedelta(days=1)), settled_at(FIRST_DAY)
    step = timedelta(seconds=1)
    assert list(first.values()) == [day2 - n * step for n in range(4)] + [
        day1 - n * step for n in range(4)
    ]
    # A later day settles, listing paper 1 of the first day again: it is a new item of its
    # own (this paper on this listing day); the items already there keep their ids and dates.
    store_day(engine, 2, settled=True, again=1)
    second = published(FeedService(engine, OPTIONS).daily(fmt).body)  # type: ignore[arg-type]
    assert list(second)[5:] == ids
    assert {i: second[i] for i in ids} == first
    assert "tag:paperfeed.example,2026:daily/2026-09-23/2609.00001" in second
    assert "tag:paperfeed.example,2026:daily/2026-09-21/2609.00001" in second
    dates = list(second.values())
    assert dates == sorted(dates, reverse=True)
    assert len(set(dates)) == len(dates)


def test_days_settled_at_the_same_moment_still_keep_their_order(engine: Engine) -> None:
    at = settled_at(FIRST_DAY) + timedelta(days=5)  # e.g. the first crawl of a new install
    for n in range(3):
        store_day(engine, n, settled=True, at=at)
    dates = list(published(FeedService(engine, OPTIONS).daily("rss").body).values())
    assert dates == [at - timedelta(seconds=n) for n in range(12)]


def test_topic_items_are_their_topic_feeds_own(engine: Engine) -> None:
    store_days(engine, days=2, settled=2)
    service = FeedService(engine, OPTIONS)
    daily = set(published(service.daily("atom").body))
    one = published(service.topic("speculative decoding", "atom").body)
    other = published(service.topic("decoding", "atom").body)
    assert len(one) == len(other) == 4  # the same papers...
    assert not set(one) & set(other)  # ...as items of two feeds
    assert not (set(one) | set(other)) & daily
    assert all(i.startswith("tag:paperfeed.example,2026:topic/") for i in one)
    assert published(service.topic("  speculative decoding ", "atom").body) == one
    dates = list(one.values())
    assert dates == sorted(dates, reverse=True)
    assert len(set(dates)) == len(dates)


def test_a_topic_of_several_lines_has_a_title_of_one_line(engine: Engine) -> None:
    store_days(engine, days=2, settled=2)
    service = FeedService(engine, OPTIONS)
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(service.topic("speculative\n\ndecoding\r\n", fmt).body)  # type: ignore[arg-type]
        assert parsed.feed.title == "paperfeed: speculative decoding"
        assert parsed.feed.subtitle == "Trending papers matching speculative decoding"
    long = feedparser.parse(service.topic("decoding " + "word " * 40, "atom").body)
    assert "\n" not in long.feed.title
    assert long.feed.title.endswith("…")
    assert len(long.feed.title) <= len("paperfeed: ") + 80


def test_by_default_the_daily_feed_holds_all_its_days_even_busy_ones(
    engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=str(engine.url))
    days, per_day = settings.feed_days, 100  # a busy week on Hugging Face
    for n in range(days):
        day = FIRST_DAY + timedelta(days=n)
        papers = tuple(
            PaperRecord(arxiv_id=f"2609.{n:02d}{i:03d}", title=f"Paper {i}", abstract="A.")
            for i in range(per_day)
        )
        listings = tuple(
            ListingRecord(day, p.arxiv_id, rank=i + 1, upvotes=per_day - i, comments=0)
            for i, p in enumerate(papers)
        )
        with session_scope(engine) as session:
            save_day(
                session,
                DayResult(day, "daily", "ok", "api", papers, listings),
                started_at=settled_at(day),
                finished_at=settled_at(day),
                settled=True,
            )
    service = FeedService(engine, FeedOptions.from_settings(settings))
    ids = list(published(service.daily("rss").body))
    assert len(ids) == days * per_day
    assert {i.split("/")[1] for i in ids} == {
        (FIRST_DAY + timedelta(days=n)).isoformat() for n in range(days)
    }


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
