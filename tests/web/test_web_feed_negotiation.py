"""Feeds answer browsers with a page and readers with the document, by Accept.

A browser opening a feed's address (its Accept weighs ``text/html`` above XML) gets an HTML
page built from the same entries (paperfeed/web/feed_page.py); a feed reader (feed types,
``*/*`` or no Accept) gets the document's exact bytes. Each representation has its own
strong ETag and answers 304 to it only; both say ``Vary: Accept`` and the same caching.
The documents carry no ``<?xml-stylesheet?>`` (no browser gets them any more, and XSLT
makes Chromium warn), and still parse as feeds.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import feedparser
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.store.db import session_scope
from paperfeed.store.preferences import find_by_feed_token
from paperfeed.web.app import create_app
from paperfeed.web.feed_routes import prefers_page
from tests.web.web_samples import NOW, SQLITE_ONLY

CHROMIUM = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
}
FIREFOX = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# What feedparser itself sends; newsboat sends no text/html either.
FEEDPARSER = {"accept": "application/atom+xml,application/rdf+xml,application/rss+xml,*/*;q=0.1"}
READERS: list[dict[str, str]] = [
    FEEDPARSER,
    {"accept": "*/*"},
    {},
    {"accept": "application/rss+xml, application/atom+xml, text/html;q=0.5"},
    {"accept": "text/html, application/atom+xml, application/rss+xml"},  # a tie: the feed
    {"accept": "application/xml"},
]


def paths(feed_token: str) -> list[tuple[str, dict[str, str]]]:
    topic = {"q": "speculative decoding"}
    return [
        (f"{base}.{fmt}", topic if base.endswith("topic") else {})
        for base in ("/feeds/daily", "/feeds/topic", f"/feeds/u/{feed_token}")
        for fmt in ("rss", "atom")
    ]


def parsed(body: bytes) -> Any:
    result = feedparser.parse(body)
    assert result.bozo == 0, result.get("bozo_exception")
    return result


class _Items(HTMLParser):
    """The titles of the page's items (``li.feed-item h3 a``), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self._item = self._heading = self._link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "li" and "feed-item" in classes:
            self._item = True
        elif tag == "h3" and self._item:
            self._heading = True
        elif tag == "a" and self._heading:
            self._link = True
            self.titles.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._link = False
        elif tag == "h3":
            self._heading = False
        elif tag == "li":
            self._item = False

    def handle_data(self, data: str) -> None:
        if self._link:
            self.titles[-1] += data


def page_titles(html: str) -> list[str]:
    items = _Items()
    items.feed(html)
    return items.titles


def shown_titles(body: bytes, path: str) -> list[str]:
    """The feed's item titles as a reader shows them (RSS titles are HTML, see rss_atom.py)."""
    shown = unescape if path.endswith(".rss") else str
    return [shown(entry.title) for entry in parsed(body).entries]


def test_browsers_prefer_the_page_and_readers_the_document() -> None:
    for fmt in ("rss", "atom"):
        assert prefers_page(CHROMIUM["accept"], fmt)  # type: ignore[arg-type]
        assert prefers_page(FIREFOX["accept"], fmt)  # type: ignore[arg-type]
        for reader in READERS:
            assert not prefers_page(reader.get("accept", ""), fmt), reader  # type: ignore[arg-type]
    # The feed's own type counts, and the most specific range wins.
    assert prefers_page("text/html, application/rss+xml;q=0.5", "rss")
    assert not prefers_page("text/html;q=0.4, application/atom+xml;q=0.5", "atom")
    assert not prefers_page("text/html;q=0, */*", "atom")
    assert not prefers_page("text/html;q=oops, */*;q=0.1", "atom")


@SQLITE_ONLY
def test_a_browser_gets_the_page_a_reader_the_document(client: TestClient, feed_token: str) -> None:
    for path, params in paths(feed_token):
        fmt = path.rsplit(".", 1)[1]
        documents = {client.get(path, params=params, headers=reader).content for reader in READERS}
        assert len(documents) == 1, path  # the exact same bytes, whatever a reader sends
        document = documents.pop()
        reader = client.get(path, params=params, headers=FEEDPARSER)
        assert reader.headers["content-type"] == f"application/{fmt}+xml; charset=utf-8"
        # Valid for readers, and nothing in it asks a browser for XSLT.
        assert document.startswith(b"<?xml version=")
        assert b"<?xml-stylesheet" not in document
        titles = shown_titles(document, path)
        assert titles, path
        for browser_headers in (CHROMIUM, FIREFOX):
            page = client.get(path, params=params, headers=browser_headers)
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8", path
            assert page.text.startswith("<!doctype html>")
            # Every item, in the feed's (ranked) order, under the feed's own title and URL.
            assert page_titles(page.text) == titles, path
            self_url = next(link.href for link in parsed(document).feed.links if link.rel == "self")
            assert f'id="feed-url" type="text" readonly value="{escape(self_url)}"' in page.text
            assert page.headers["vary"] == reader.headers["vary"] == "Accept"
            assert page.headers["cache-control"] == reader.headers["cache-control"]
            assert page.headers["etag"] != reader.headers["etag"]
            assert re.fullmatch(r'"[0-9a-f]{40}"', page.headers["etag"])
            assert page.headers["last-modified"] == reader.headers["last-modified"]
            assert "content-security-policy" in page.headers
        assert "xsl" not in client.get(path, params=params, headers=CHROMIUM).text.lower()


def test_each_representation_answers_304_to_its_own_validators_only(client: TestClient) -> None:
    path = "/feeds/daily.atom"
    reader = client.get(path, headers=FEEDPARSER)
    page = client.get(path, headers=CHROMIUM)
    for headers, response in ((FEEDPARSER, reader), (CHROMIUM, page)):
        again = client.get(path, headers={**headers, "if-none-match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == response.headers["etag"]
        assert again.headers["vary"] == "Accept"
        dated = client.get(
            path, headers={**headers, "if-modified-since": response.headers["last-modified"]}
        )
        assert dated.status_code == 304
        # Built once: a second answer is the very same bytes.
        assert client.get(path, headers=headers).content == response.content
    # A reader's cached copy is not a browser's, nor the other way round.
    crossed = client.get(path, headers={**CHROMIUM, "if-none-match": reader.headers["etag"]})
    assert crossed.status_code == 200
    assert crossed.headers["content-type"].startswith("text/html")
    crossed = client.get(path, headers={**FEEDPARSER, "if-none-match": page.headers["etag"]})
    assert crossed.status_code == 200
    assert crossed.content == reader.content
    for headers, response in ((FEEDPARSER, reader), (CHROMIUM, page)):
        head = client.head(path, headers=headers)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(response.content))
        assert head.headers["etag"] == response.headers["etag"]


@SQLITE_ONLY
def test_the_page_says_what_the_feed_is(client: TestClient, feed_token: str) -> None:
    daily = client.get("/feeds/daily.rss", headers=CHROMIUM).text
    assert '<p class="section" id="feed-kind">Daily trending feed · RSS 2.0</p>' in daily
    assert 'id="other-format" href="http://testserver/feeds/daily.atom"' in daily
    assert "personal-note" not in daily
    topic = client.get(
        "/feeds/topic.atom", params={"q": "speculative decoding"}, headers=CHROMIUM
    ).text
    assert "Topic feed · Atom" in topic
    assert '<code id="feed-query">speculative decoding</code>' in topic
    assert 'href="http://testserver/feeds/topic.rss?q=speculative%20decoding"' in topic
    personal = client.get(f"/feeds/u/{feed_token}.atom", headers=CHROMIUM).text
    assert "Your personal feed · Atom" in personal
    assert 'id="personal-note"' in personal
    # A personal feed's "also trending" papers say so, as the feed's entries do.
    assert '<p class="section feed-note">Also trending</p>' in personal
    # The Copy button's script is the site's own file (the CSP allows no inline script).
    for text in (daily, topic, personal):
        assert '<script src="/static/feed.js" defer></script>' in text
        assert "<script>" not in text
    assert client.get("/static/feed.js").status_code == 200
    assert client.get("/static/feed.xsl").status_code == 404


@SQLITE_ONLY
def test_hostile_titles_and_queries_are_text_on_the_page(
    client: TestClient, feed_token: str
) -> None:
    daily = client.get("/feeds/daily.atom", headers=CHROMIUM)
    hostile = next(
        t for t in shown_titles(client.get("/feeds/daily.atom").content, ".atom") if "<script>" in t
    )
    assert hostile in page_titles(daily.text)  # shown as typed, as text
    assert "<script>alert" not in daily.text
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Bold&lt;/b&gt;"
        in daily.text
    )
    query = '"speculative decoding" </code><script>alert(1)</script>'
    topic = client.get("/feeds/topic.rss", params={"q": query}, headers=CHROMIUM)
    assert topic.status_code == 200
    assert "<script>alert(1)" not in topic.text
    assert "&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in topic.text
    # The RSS title is HTML-escaped text for readers: the page shows it once, as typed.
    rss = client.get("/feeds/daily.rss", headers=CHROMIUM)
    assert page_titles(rss.text) == page_titles(daily.text)


@SQLITE_ONLY
def test_a_personal_feeds_page_opens_no_account_page(
    client: TestClient, stored: Engine, feed_token: str
) -> None:
    with session_scope(stored) as session:
        subscriber = find_by_feed_token(session, feed_token)
        assert subscriber is not None
        account_token, email = subscriber.token, subscriber.email
    for fmt in ("atom", "rss"):
        page = client.get(f"/feeds/u/{feed_token}.{fmt}", headers=CHROMIUM)
        assert page.status_code == 200
        assert page.headers["cache-control"].startswith("private")
        text = page.text
        assert account_token not in text
        assert email is not None
        assert email not in text
        hrefs = re.findall(r'href="([^"]*)"', text)
        account = re.compile(r"(?<!/feeds)/u/|/e/|opml|unsubscribe|preferences")
        assert [h for h in hrefs if account.search(h)] == []
        assert {h for h in hrefs if "/feeds/u/" in h} == {
            f"http://testserver/feeds/u/{feed_token}.{'rss' if fmt == 'atom' else 'atom'}"
        }
    # An unknown or deleted feed is a 404 page for a browser too, not a feed.
    missing = client.get("/feeds/u/not-a-feed-key.atom", headers=CHROMIUM)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "feed-url" not in missing.text


def test_an_empty_feeds_page_says_so(web_settings: Settings, engine: Engine) -> None:
    """A store with no papers yet: the page says none came yet, the document is valid."""
    with TestClient(create_app(web_settings, engine=engine, now=lambda: NOW)) as client:
        page = client.get("/feeds/daily.atom", headers=CHROMIUM)
        assert page.status_code == 200
        assert "0 papers in the feed now" in page.text
        assert 'class="empty"' in page.text
        assert parsed(client.get("/feeds/daily.atom").content).entries == []
