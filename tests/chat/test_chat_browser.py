"""The "Chat and push" card in Chromium: paste an address, see it only shortened, remove it,
turn email off; at a phone's and a desktop's width, nothing scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from paperfeed.store.db import session_scope
from paperfeed.store.subscribers import create_subscriber, find_by_token
from paperfeed.web.app import create_app
from tests.support.headless_chromium import ARTIFACTS, launch_chromium, serving_in_thread
from tests.support.ports import free_port
from tests.web.web_samples import NOW, SQLITE_ONLY, MemoryTransport, app_settings, store_days

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SECRET = "TIiajkdnlazkcOXrIdevi7FQ"
SLACK = f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}/#general"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def site(engine: Engine, tmp_path: Path, database_url: str) -> Iterator[tuple[str, str]]:
    store_days(engine)
    with session_scope(engine) as session:
        token = create_subscriber(
            session, email="ada@example.org", interests="reasoning", now=NOW, confirmed=True
        ).token
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = app_settings(tmp_path, database_url, public_url=base)
    app = create_app(settings, engine=engine, transport=MemoryTransport())
    with serving_in_thread(app, port):
        yield base, token


@SQLITE_ONLY
@pytest.mark.parametrize("width", [390, 1280])
def test_add_see_shortened_remove_and_email_off(
    browser: Any, site: tuple[str, str], engine: Engine, width: int
) -> None:
    base, token = site
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(f"{base}/u/{token}")
        card = page.locator("#chat")
        assert "No chat or push address yet." in card.inner_text()
        field = page.locator("#chat-address")
        assert field.get_attribute("type") == "password"  # not shown while typed
        field.fill(SLACK)
        card.get_by_role("button", name="Add").click()
        page.wait_for_url(f"{base}/u/{token}?chat=added#chat")
        text = card.inner_text()
        assert "slack://…/…i7FQ" in text
        assert "active" in text
        assert SECRET not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")
        page.screenshot(path=str(ARTIFACTS / f"chat-card-{width}.png"), full_page=True)

        card.get_by_label("Also send my digest by email").uncheck()
        card.get_by_role("button", name="Save").click()
        page.wait_for_url(f"{base}/u/{token}?chat=saved#chat")
        assert not page.get_by_label("Also send my digest by email").is_checked()
        with session_scope(engine) as session:
            reader = find_by_token(session, token)
            assert reader is not None
            assert reader.email_digest is False

        page.locator("#chat").get_by_role("button", name="Remove").click()
        page.wait_for_url(f"{base}/u/{token}?chat=removed#chat")
        assert "No chat or push address yet." in page.locator("#chat").inner_text()
        # Nothing else would reach her: mail is on again.
        assert page.get_by_label("Also send my digest by email").is_checked()
    finally:
        page.close()
