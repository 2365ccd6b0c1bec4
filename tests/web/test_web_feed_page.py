"""Feeds opened in a real browser: Chromium shows a page, not raw XML, and readers see no change.

Headless Debian Chromium (driven by Playwright) opens the daily feed and a personal feed, RSS
and Atom, at phone (390 px) and desktop (1280 px) widths, light and dark: the stylesheet
named by the feed's processing instruction turns it into a page with the feed's title, every
item in order, and the address to paste into a reader. Screenshots go to tests/artifacts/.
Skipped only when chromium or Playwright is missing on a developer's machine; fails on CI.
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

from paperfeed.config import Settings
from paperfeed.web.app import create_app
from tests.support.headless_chromium import ARTIFACTS, launch_chromium, serving_in_thread
from tests.support.ports import free_port
from tests.web.web_samples import NOW, SQLITE_ONLY

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def server(stored: Engine, tmp_path: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        public_url=base,
        secret_key="browser-test-secret-" + "s" * 32,
        mail_from="paperfeed <digest@paperfeed.example>",
        list_name="Morning & papers",  # the page names the list, whatever it is called
    )
    app = create_app(settings, engine=stored, now=lambda: NOW)
    with serving_in_thread(app, port):
        yield base


def expected(url: str) -> tuple[str, str, list[str]]:
    """What a reader shows of the feed: its title, its own address, its items' titles.

    feedparser gives RSS titles as HTML (readers render them, see rss_atom.py) and Atom's
    ``type="text"`` titles as text: a reader shows both as the characters typed.
    """
    parsed = feedparser.parse(httpx.get(url).content)
    assert parsed.bozo == 0
    shown = unescape if url.endswith(".rss") else str
    self_url = next(link.href for link in parsed.feed.links if link.rel == "self")
    return shown(parsed.feed.title), self_url, [shown(entry.title) for entry in parsed.entries]


@SQLITE_ONLY
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_a_feed_opened_in_a_browser_shows_its_title_items_and_address(
    browser: Any, server: str, feed_token: str, width: int, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(dialog.message))
    for name, path in (
        ("daily", "/feeds/daily.atom"),
        ("daily-rss", "/feeds/daily.rss"),
        ("personal", f"/feeds/u/{feed_token}.atom"),
        ("personal-rss", f"/feeds/u/{feed_token}.rss"),
    ):
        title, self_url, item_titles = expected(server + path)
        assert item_titles, path
        answer = page.goto(server + path)
        assert answer is not None
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("application/xml")
        # The page, not the XML as text: the heading, the address, every item in order.
        heading = page.locator("h1#feed-title")
        assert heading.inner_text().strip() == title, path
        assert page.locator("header.site .brand").inner_text().strip() == "Morning & papers", path
        assert page.input_value("#feed-url") == self_url == server + path
        shown = [t.strip() for t in page.locator(".feed-item h3").all_inner_texts()]
        assert shown == item_titles, path
        # The daily list's hostile upstream title is shown as typed, never as markup.
        assert any("<script>" in t for t in shown) == name.startswith("daily"), path
        assert page.locator(".feed-item h3 b, .feed-item h3 script").count() == 0
        links = page.locator(".feed-item h3 a")
        assert links.first.get_attribute("href", timeout=1000).startswith(  # type: ignore[union-attr]
            "https://huggingface.co/papers/"
        )
        # The site's stylesheet applies (light or dark) and nothing runs wider than the screen.
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(246, 247, 249)")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        personal_note = page.get_by_text("This address is your personal feed")
        assert personal_note.count() == (1 if name.startswith("personal") else 0)
        # The Copy button puts the address on the clipboard and says so.
        page.click("#copy-feed-url")
        status = page.locator("#copy-status")
        status.filter(has_text="Copied").wait_for(timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == self_url
        # A reload (from the cache or revalidated: test_web_feeds_stylesheet covers the 304s)
        # still shows the page.
        reloaded = page.reload()
        assert reloaded is not None
        assert reloaded.status in (200, 304)
        assert page.locator("h1#feed-title").inner_text().strip() == title, path
        assert page.locator(".feed-item").count() == len(item_titles)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"feed-page-{name}-{width}-{scheme}.png"))
    assert errors == []
    context.close()
