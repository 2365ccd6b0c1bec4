"""Feeds opened in a real browser: Chromium shows the feed's page, with no XSLT anywhere.

Headless Debian Chromium (driven by Playwright) opens the daily feed, a topic feed and a
personal feed, RSS and Atom, at phone (390 px) and desktop (1280 px) widths, light and dark.
Each answer is the server's HTML page (paperfeed/web/feed_page.py), not XML through a
stylesheet: no ``xslt-warning-banner`` (Chromium 156 overlays "This site uses XSLT…" on any
page made by XSLT), no console message at all (no CSP refusal, no XSLT deprecation), every
item of the feed in its order, the site's colours with every text at WCAG AA contrast
(tests/support/contrast_check), nothing wider than the screen, and the address to copy:
with the Copy button, and without JavaScript as a read-only field. Screenshots go to
tests/artifacts/. Skipped only when chromium or Playwright is missing on a developer's
machine; fails on CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from sqlalchemy import Engine

from paperfeed.web.app import create_app
from tests.support.contrast_check import low_contrast, report
from tests.support.headless_chromium import ARTIFACTS, launch_chromium, serving_in_thread
from tests.support.ports import free_port
from tests.web.web_samples import NOW, SQLITE_ONLY, app_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOPIC = "/feeds/topic.{fmt}?q=speculative%20decoding"
KINDS = {"daily": "Daily trending feed", "topic": "Topic feed", "personal": "Your personal feed"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def server(stored: Engine, tmp_path: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The page names the list, whatever it is called.
    settings = app_settings(tmp_path, database_url, public_url=base, list_name="Morning & papers")
    app = create_app(settings, engine=stored, now=lambda: NOW)
    with serving_in_thread(app, port):
        yield base


def feeds(feed_token: str) -> list[tuple[str, str]]:
    """(name, path) of every kind of feed in both formats."""
    return [
        ("daily", "/feeds/daily.atom"),
        ("daily-rss", "/feeds/daily.rss"),
        ("topic", TOPIC.format(fmt="atom")),
        ("topic-rss", TOPIC.format(fmt="rss")),
        ("personal", f"/feeds/u/{feed_token}.atom"),
        ("personal-rss", f"/feeds/u/{feed_token}.rss"),
    ]


def expected(url: str) -> tuple[str, str, list[str]]:
    """What a reader shows of the feed: its title, its own address, its items' titles.

    httpx asks for ``*/*``, as readers may: it gets the document. feedparser gives RSS
    titles as HTML (readers render them, see rss_atom.py) and Atom's ``type="text"`` titles
    as text: a reader shows both as the characters typed.
    """
    answer = httpx.get(url)
    assert answer.headers["content-type"].startswith(("application/atom+xml", "application/rss"))
    assert b"<?xml-stylesheet" not in answer.content
    parsed = feedparser.parse(answer.content)
    assert parsed.bozo == 0
    shown = unescape if ".rss" in url else str
    self_url = next(link.href for link in parsed.feed.links if link.rel == "self")
    return shown(parsed.feed.title), self_url, [shown(entry.title) for entry in parsed.entries]


def no_xslt(page: Any, path: str) -> None:
    """The page is HTML from the server: no XSLT made it, so Chromium adds no banner."""
    assert page.evaluate("document.contentType") == "text/html", path
    assert page.locator("xslt-warning-banner").count() == 0, path
    assert "XSLT" not in page.evaluate("document.documentElement.outerHTML"), path


@SQLITE_ONLY
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_a_feed_opened_in_a_browser_is_a_page_with_its_items_and_address(
    browser: Any, server: str, feed_token: str, width: int, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    # Every console message counts: a CSP refusal is an error, XSLT's deprecation a warning.
    messages: list[str] = []
    page.on("pageerror", lambda error: messages.append(str(error)))
    page.on("console", lambda m: messages.append(f"{m.type} {page.url}: {m.text}"))
    page.on("dialog", lambda dialog: messages.append(dialog.message))
    failures: dict[str, str] = {}
    for name, path in feeds(feed_token):
        title, self_url, item_titles = expected(server + path)
        assert item_titles, path
        answer = page.goto(server + path)
        assert answer is not None
        assert answer.status == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["vary"] == "Accept"
        no_xslt(page, path)
        # What the feed is, the list it belongs to, every item in the feed's (ranked) order.
        assert page.locator("h1#feed-title").inner_text().strip() == title, path
        assert page.locator("header.site .brand").inner_text().strip() == "Morning & papers"
        kind, _, fmt = name.partition("-")
        assert page.locator("#feed-kind").text_content() == (
            f"{KINDS[kind]} · {'RSS 2.0' if fmt else 'Atom'}"
        )
        assert page.input_value("#feed-url") == self_url == server + path
        shown = [t.strip() for t in page.locator(".feed-item h3 a").all_inner_texts()]
        assert shown == item_titles, path
        ranks = [r.strip() for r in page.locator(".feed-item h3 .rank").all_inner_texts()]
        assert ranks == [f"{i}." for i in range(1, len(item_titles) + 1)]
        # The daily list's hostile upstream title is shown as typed, never as markup.
        assert any("<script>" in t for t in shown) == name.startswith("daily"), path
        assert page.locator(".feed-item h3 b, .feed-item h3 script").count() == 0
        first = page.locator(".feed-item h3 a").first.get_attribute("href")
        assert first is not None
        assert first.startswith("https://huggingface.co/papers/")
        # How to subscribe, folded so the items come sooner on a phone; in it the same feed
        # in the other format.
        assert not page.locator("#other-format").is_visible()
        page.click(".feed-how summary")
        assert page.locator("#other-format").is_visible()
        other = page.locator("#other-format").get_attribute("href")
        assert other is not None
        assert other != self_url
        assert other.replace(".rss", ".atom") == self_url.replace(".rss", ".atom")
        # The site's stylesheet (light or dark), legible, nothing wider than the screen.
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(246, 247, 249)")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        checked, low = low_contrast(page)
        assert checked > 20, (path, checked)
        if low:
            failures[name] = report(low)
        personal_note = page.get_by_text("This address is your personal feed")
        assert personal_note.count() == (1 if name.startswith("personal") else 0)
        # The Copy button puts the address on the clipboard and says so.
        page.click("#copy-feed-url")
        page.locator("#copy-status").filter(has_text="Copied").wait_for(timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == self_url
        # A reload (from the cache or revalidated: test_web_feed_negotiation covers the 304s)
        # is the page again.
        reloaded = page.reload()
        assert reloaded is not None
        assert reloaded.status in (200, 304)
        no_xslt(page, path)
        assert page.locator(".feed-item").count() == len(item_titles)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"feed-page-{name}-{width}-{scheme}.png"))
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert messages == []
    context.close()


@SQLITE_ONLY
def test_without_javascript_the_address_is_a_field_to_select(
    browser: Any, server: str, feed_token: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    for _, path in feeds(feed_token):
        page.goto(server + path)
        no_xslt(page, path)
        field = page.locator("#feed-url")
        assert field.get_attribute("readonly") is not None
        assert field.input_value() == server + path
        # No Copy button that would do nothing; the field is there to select and copy.
        assert not page.locator("#copy-feed-url").is_visible()
        field.click()
        page.keyboard.press("Control+A")
        selected = page.evaluate(
            "(() => { const f = document.getElementById('feed-url');"
            " return f.value.slice(f.selectionStart, f.selectionEnd); })()"
        )
        assert selected == server + path
    context.close()
