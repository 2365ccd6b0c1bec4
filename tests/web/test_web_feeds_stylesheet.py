"""Feeds name a stylesheet for browsers; readers get the same document and the same parse.

A browser (its Accept names ``text/html``) gets the very bytes a reader gets, as
``application/xml`` so it applies ``/static/feed.xsl``, under an ETag of its own; both
variants answer 304 to their own validators, and every answer says ``Vary: Accept``.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import feedparser
from fastapi.testclient import TestClient

from paperfeed.feeds.rss_atom import STYLESHEET_PI
from tests.web.web_samples import SQLITE_ONLY

BROWSER = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,*/*;q=0.8"
}
# What feedparser itself sends; newsboat sends no text/html either.
READER = {"accept": "application/atom+xml,application/rdf+xml,application/rss+xml,*/*;q=0.1"}
XSL = "{http://www.w3.org/1999/XSL/Transform}"


def paths(feed_token: str) -> list[str]:
    return [
        f"{base}.{fmt}"
        for base in ("/feeds/daily", "/feeds/topic", f"/feeds/u/{feed_token}")
        for fmt in ("rss", "atom")
    ]


def parsed(body: bytes) -> dict[str, Any]:
    result = feedparser.parse(body)
    assert result.bozo == 0, result.get("bozo_exception")
    return {"feed": dict(result.feed), "entries": [dict(e) for e in result.entries]}


@SQLITE_ONLY
def test_every_feed_names_the_stylesheet_and_parses_as_without_it(
    client: TestClient, feed_token: str
) -> None:
    for path in paths(feed_token):
        params = {"q": "speculative decoding"} if "topic" in path else {}
        body = client.get(path, params=params, headers=READER).content
        lines = body.split(b"\n", 2)
        assert lines[0].startswith(b"<?xml version=")
        assert lines[1] + b"\n" == STYLESHEET_PI, path
        bare = body.replace(STYLESHEET_PI, b"", 1)
        assert bare != body
        assert parsed(body) == parsed(bare), path
        assert parsed(body)["entries"], path


@SQLITE_ONLY
def test_a_browser_gets_the_same_bytes_as_xml_with_its_own_validator(
    client: TestClient, feed_token: str
) -> None:
    for path in paths(feed_token):
        params = {"q": "speculative decoding"} if "topic" in path else {}
        reader = client.get(path, params=params, headers=READER)
        browser = client.get(path, params=params, headers=BROWSER)
        assert reader.headers["content-type"].startswith("application/" + path[-4:].strip("."))
        assert browser.headers["content-type"] == "application/xml; charset=utf-8", path
        assert browser.content == reader.content
        assert parsed(browser.content) == parsed(reader.content)
        assert reader.headers["vary"] == browser.headers["vary"] == "Accept"
        assert browser.headers["cache-control"] == reader.headers["cache-control"]
        assert browser.headers["etag"] != reader.headers["etag"]
        assert browser.headers["etag"].startswith('"')


def test_each_variant_answers_304_to_its_own_etag_only(client: TestClient) -> None:
    reader = client.get("/feeds/daily.atom", headers=READER)
    browser = client.get("/feeds/daily.atom", headers=BROWSER)
    for headers, response in ((READER, reader), (BROWSER, browser)):
        again = client.get(
            "/feeds/daily.atom", headers={**headers, "if-none-match": response.headers["etag"]}
        )
        assert again.status_code == 304
        assert again.headers["etag"] == response.headers["etag"]
        assert again.headers["vary"] == "Accept"
        dated = client.get(
            "/feeds/daily.atom",
            headers={**headers, "if-modified-since": response.headers["last-modified"]},
        )
        assert dated.status_code == 304
    # A cached reader copy is not a browser's, nor the other way round.
    crossed = client.get(
        "/feeds/daily.atom", headers={**BROWSER, "if-none-match": reader.headers["etag"]}
    )
    assert crossed.status_code == 200
    assert crossed.headers["content-type"].startswith("application/xml")
    crossed = client.get(
        "/feeds/daily.atom", headers={**READER, "if-none-match": browser.headers["etag"]}
    )
    assert crossed.status_code == 200
    assert crossed.headers["content-type"].startswith("application/atom+xml")
    head = client.head("/feeds/daily.atom", headers=BROWSER)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(browser.content))
    assert head.headers["etag"] == browser.headers["etag"]


def test_the_stylesheet_is_served_as_xslt_from_static(client: TestClient) -> None:
    answer = client.get("/static/feed.xsl")
    assert answer.status_code == 200
    assert "xml" in answer.headers["content-type"]
    root = ET.fromstring(answer.content)
    assert root.tag == XSL + "stylesheet"
    # It reads both formats: RSS items and Atom entries, and the self link to copy.
    matches = {t.get("match") for t in root.iter(XSL + "template")}
    assert {"/", "item", "atom:entry"} <= matches
    assert b"atom:link[@rel='self']" in answer.content
    assert client.get("/static/feed.js").status_code == 200
