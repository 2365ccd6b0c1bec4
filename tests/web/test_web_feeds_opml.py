"""OPML export from the preferences page: the reader's feeds by their feed URLs, never the key."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree as ET

import feedparser
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.store.db import session_scope
from paperfeed.store.preferences import rotate_feed_token
from paperfeed.store.subscribers import create_subscriber, find_by_token
from tests.web.web_samples import NOW, SQLITE_ONLY


def subscribe(stored: Engine, *, confirmed: bool = True) -> tuple[str, str]:
    """A subscriber's account token and feed token."""
    with session_scope(stored) as session:
        subscriber = create_subscriber(
            session,
            email="reader@example.com",
            interests='"speculative decoding"',
            now=NOW - timedelta(days=10),
            confirmed=confirmed,
            send_hour=7,
        )
        return subscriber.token, subscriber.feed_token


@SQLITE_ONLY
def test_the_opml_lists_the_personal_and_daily_feeds_and_never_the_account_token(
    client: TestClient, stored: Engine
) -> None:
    token, feed_token = subscribe(stored)
    page = client.get(f"/u/{token}")
    assert f'href="/u/{token}/feeds.opml"' in page.text
    answer = client.get(f"/u/{token}/feeds.opml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="paperfeed-feeds.opml"'
    assert answer.headers["cache-control"] == "no-store"
    assert token.encode() not in answer.content
    root = ET.fromstring(answer.content)
    assert root.tag == "opml"
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "paperfeed feeds"
    outlines = root.findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        f"http://testserver/feeds/u/{feed_token}.atom",
        "http://testserver/feeds/daily.atom",
    ]
    for outline in outlines:
        assert outline.get("type") == "rss"
        assert outline.get("text")
        assert outline.get("htmlUrl") == "http://testserver/"
        # Each one is a live feed a reader can subscribe to.
        url = outline.get("xmlUrl", "")
        feed = client.get(url.removeprefix("http://testserver"))
        assert feed.status_code == 200
        assert feedparser.parse(feed.content).bozo == 0


@SQLITE_ONLY
def test_the_opml_follows_a_reset_feed_address(client: TestClient, stored: Engine) -> None:
    token, old_feed = subscribe(stored)
    assert old_feed in client.get(f"/u/{token}/feeds.opml").text
    with session_scope(stored) as session:
        subscriber = find_by_token(session, token)
        assert subscriber is not None
        rotate_feed_token(session, subscriber, now=NOW)
        new_feed = subscriber.feed_token
    after = client.get(f"/u/{token}/feeds.opml").text
    assert old_feed not in after
    assert f"/feeds/u/{new_feed}.atom" in after


@SQLITE_ONLY
def test_the_opml_needs_a_valid_confirmed_token(client: TestClient, stored: Engine) -> None:
    token, feed_token = subscribe(stored, confirmed=False)
    for bad in (token, feed_token, "x" * 43, token[:-1]):
        answer = client.get(f"/u/{bad}/feeds.opml")
        assert answer.status_code == 404, bad
        assert feed_token.encode() not in answer.content
        assert "opml" not in answer.headers["content-type"]
