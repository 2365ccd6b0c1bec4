"""Feeds over HTTP: every feed parses, 304s on validators, built once per change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from tests.web.web_samples import FIRST_DAY, SQLITE_ONLY, VISION_PAPER, crawled_at

TOPIC = '"speculative decoding" -vision'


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_every_feed_parses_cleanly_with_its_items_in_order(
    client: TestClient, feed_token: str, fmt: str
) -> None:
    ids: list[str] = []
    for path, params in (
        (f"/feeds/daily.{fmt}", {}),
        (f"/feeds/topic.{fmt}", {"q": TOPIC}),
        (f"/feeds/u/{feed_token}.{fmt}", {}),
    ):
        answer = client.get(path, params=params)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(f"application/{fmt}+xml")
        parsed = feedparser.parse(answer.content)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.entries, path
        for entry in parsed.entries:
            # The item's own id (the paper in this feed), the paper's page as its link.
            assert entry.id.startswith("tag:testserver,2026:")
            assert entry.id.endswith("/" + entry.link.rsplit("/", 1)[-1])
            assert entry.link.startswith("https://huggingface.co/papers/")
        ids += [entry.id for entry in parsed.entries]
        # Dated newest first, one second apart at least: readers sorting by date keep the order.
        dates = [entry.published_parsed for entry in parsed.entries]
        assert all(a > b for a, b in pairwise(dates)), path
        self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
        assert self_links
        assert self_links[0].startswith("http://testserver/feeds/")
        assert parsed.feed.link == "http://testserver/"
    assert len(set(ids)) == len(ids)  # a paper in two feeds is two items


def test_a_topic_feed_honours_exclusions(client: TestClient) -> None:
    def ids(query: str) -> set[str]:
        answer = client.get("/feeds/topic.rss", params={"q": query})
        return {e.link.rsplit("/", 1)[-1] for e in feedparser.parse(answer.content).entries}

    with_vision = ids('"speculative decoding"')
    without = ids(TOPIC)
    assert VISION_PAPER in with_vision
    assert VISION_PAPER not in without
    assert without
    assert without < with_vision


@SQLITE_ONLY
def test_a_topic_feed_without_a_usable_query_is_a_400(client: TestClient) -> None:
    assert client.get("/feeds/topic.atom").status_code == 400
    nothing = client.get("/feeds/topic.atom", params={"q": "-vision"})
    assert nothing.status_code == 400
    assert "nothing to match" in nothing.text
    assert client.get("/feeds/daily.json").status_code == 404


def test_a_repeated_request_with_the_etag_or_the_date_gets_304(client: TestClient) -> None:
    first = client.get("/feeds/daily.rss")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith('W/"')
    assert first.headers["cache-control"] == "public, max-age=300"
    again = client.get("/feeds/daily.rss", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    dated = client.get(
        "/feeds/daily.rss", headers={"if-modified-since": first.headers["last-modified"]}
    )
    assert dated.status_code == 304
    stale = client.get("/feeds/daily.rss", headers={"if-none-match": '"something-else"'})
    assert stale.status_code == 200
    assert stale.content == first.content
    head = client.head("/feeds/daily.rss")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(first.content))


def test_a_personal_feed_is_private_and_carries_the_reasons(
    client: TestClient, feed_token: str
) -> None:
    answer = client.get(f"/feeds/u/{feed_token}.atom")
    assert answer.headers["cache-control"] == "private, max-age=300"
    entries = feedparser.parse(answer.content).entries
    assert "Why:" in entries[0].content[0].value
    assert "speculative decoding" in entries[0].content[0].value


def test_a_feed_is_built_once_per_change_of_its_source(
    make_client: Callable[..., TestClient], stored: Engine
) -> None:
    client = make_client(feed_check_seconds=0)
    cache = client.app.state.paperfeed.feeds.cache  # type: ignore[attr-defined]
    first = client.get("/feeds/daily.atom")
    for _ in range(5):
        assert client.get("/feeds/daily.atom").headers["etag"] == first.headers["etag"]
    assert cache.builds == 1
    day = FIRST_DAY + timedelta(days=3)  # the unsettled day settles now, with a new paper
    paper = PaperRecord(arxiv_id="2609.98000", title="A late paper", abstract="About llamas.")
    result = DayResult(
        day=day,
        kind="daily",
        status="ok",
        source="api",
        papers=(paper,),
        listings=(ListingRecord(day, paper.arxiv_id, rank=1, upvotes=500, comments=0),),
    )
    later = crawled_at(day) + timedelta(hours=3)
    with session_scope(stored) as session:
        save_day(session, result, started_at=later, finished_at=later, settled=True)
    changed = client.get("/feeds/daily.atom")
    assert cache.builds == 2
    assert changed.headers["etag"] != first.headers["etag"]
    assert feedparser.parse(changed.content).entries[0].title == "A late paper"
    old = client.get("/feeds/daily.atom", headers={"if-none-match": first.headers["etag"]})
    assert old.status_code == 200


@SQLITE_ONLY
def test_within_the_check_interval_the_store_is_not_asked_again(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(feed_check_seconds=3600)
    service = client.app.state.paperfeed.feeds  # type: ignore[attr-defined]
    client.get("/feeds/daily.rss")
    calls: list[str] = []
    original = service.daily
    service.daily = lambda fmt: calls.append(fmt) or original(fmt)
    for _ in range(10):
        assert client.get("/feeds/daily.rss").status_code == 200
    assert calls == []
