"""The whole sign-up in a real browser, with a real server and a real SMTP server.

Headless Chromium (Debian's, driven by Playwright) signs up on the front page of the app
served by uvicorn; the confirmation mail arrives at an aiosmtpd server; the browser opens its
link, confirms, and sees the parsed interests and a live preview. A digest is then mailed the
same way and the test unsubscribes through its List-Unsubscribe header by POST, as a mail
provider would; after that no digest is composed. Screenshots go to tests/artifacts/.
Skipped only when chromium or Playwright is missing on a developer's machine; fails on CI.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.links import (
    archive_url,
    personal_feed_url,
    preferences_url,
    unsubscribe_url,
)
from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.message import make_message_id, make_sender
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.smtp import SmtpConfig, SmtpTransport
from paperfeed.mailer.views import DayView, Pick, Recipient, SubscriberDigest
from paperfeed.paper_view import paper_view
from paperfeed.store.db import session_scope
from paperfeed.store.edition_entries import edition_entries
from paperfeed.store.models import SubscriberStatus
from paperfeed.store.subscribers import find_by_email
from paperfeed.web.app import create_app
from tests.support.headless_chromium import ARTIFACTS, launch_chromium, serving_in_thread
from tests.support.ports import free_port
from tests.web.web_samples import NOW, SQLITE_ONLY, app_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def wait(self, count: int, timeout: float = 10.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"only {len(self.messages)} mails arrived"
            time.sleep(0.05)
        return self.messages[count - 1]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpConfig]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield (
        handler,
        SmtpConfig(hostname="127.0.0.1", port=controller.port, start_tls=False, timeout=5),
    )
    controller.stop()


@pytest.fixture
def server(
    stored: Engine, tmp_path: Path, database_url: str, inbox: tuple[Inbox, SmtpConfig]
) -> Iterator[str]:
    """The app under uvicorn on a free port, mailing through the test SMTP server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    smtp_url = f"smtp://127.0.0.1:{inbox[1].port}?starttls=off&timeout=5"
    settings = app_settings(tmp_path, database_url, public_url=base, smtp_url=smtp_url)
    # The app opens (and at shutdown closes) its own SMTP transport from the settings.
    app = create_app(settings, engine=stored, now=lambda: NOW)
    with serving_in_thread(app, port):
        yield base


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The first screen, as a person sees it on opening the page.
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"))


def mail_digest(engine: Engine, base: str, email: str, smtp: SmtpConfig) -> None:
    """Compose today's edition and mail it as the sender will: rendered, with list headers."""
    compose_due(engine, now=NOW, policy=EditionPolicy(), corpus=CorpusCache())
    with session_scope(engine) as session:
        subscriber = find_by_email(session, email)
        assert subscriber is not None
        entries = edition_entries(session, subscriber.id or 0)
    assert entries, "no edition was composed"
    token = subscriber.token
    day = DayView(
        list_name="paperfeed",
        local_date=entries[0].local_date,
        papers=tuple(paper_view(e.paper, upvotes=e.upvotes) for e in entries),
        archive_url=archive_url(base, entries[0].local_date),
        list_address="digest@paperfeed.example",
    )
    recipient = Recipient(
        email=email,
        preferences_url=preferences_url(base, token),
        feed_url=personal_feed_url(base, token),
        unsubscribe_url=unsubscribe_url(base, token),
        unsubscribe_mailto="mailto:unsubscribe@paperfeed.example",
    )
    digest = SubscriberDigest(
        recipient=recipient,
        picks=tuple(Pick(e.paper.arxiv_id, e.reasons) for e in entries if e.section == "matched"),
        also_trending=tuple(e.paper.arxiv_id for e in entries if e.section == "trending"),
    )
    sender = make_sender("paperfeed <digest@paperfeed.example>")
    mail = digest_mail(
        compile_shell(sender),
        render_digest(compile_day(day), digest),
        recipient,
        message_id=make_message_id("delivery", 1, domain=sender.domain),
        date=NOW,
    )

    async def send() -> None:
        transport = SmtpTransport(smtp, pool_size=1, max_attempts=1)
        try:
            await transport.send([mail])
        finally:
            await transport.aclose()

    # Playwright's sync API runs an event loop in this thread: send from another one.
    sending = threading.Thread(target=asyncio.run, args=(send(),))
    sending.start()
    sending.join(30)


@SQLITE_ONLY
def test_sign_up_confirm_preferences_and_one_click_unsubscribe_in_a_browser(
    browser: Any, server: str, inbox: tuple[Inbox, SmtpConfig], stored: Engine
) -> None:
    handler, smtp = inbox
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, timezone_id="Asia/Tokyo", locale="en-GB"
    )
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith((server, "data:")) else None,
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(server + "/")
    assert page.input_value("#timezone") == "Asia/Tokyo"  # filled in from the browser
    shoot(page, "home")
    page.set_viewport_size({"width": 375, "height": 800})
    shoot(page, "home-375")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375, f"the front page scrolls sideways on a phone ({wide} px)"
    page.set_viewport_size({"width": 1100, "height": 900})
    page.fill("#email", "Reader@Example.com")
    page.fill("#interests", '"speculative decoding"\n-vision\nauthor:"Ada Lovelace"')
    page.select_option("#send_hour", "7")
    page.click("text=Subscribe")
    page.wait_for_selector("text=Check your inbox")

    mail = handler.wait(1)
    assert mail["To"] == "reader@example.com"
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", text_of(mail))
    assert link, text_of(mail)
    page.goto(link.group(0))
    with session_scope(stored) as session:
        row = find_by_email(session, "reader@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.PENDING  # opening the link changed nothing
        assert row.timezone == "Asia/Tokyo"
    page.click("text=Yes, confirm")
    page.wait_for_selector("text=Your preferences")
    body = page.inner_text("main")
    assert 'topic: "speculative decoding"' in body
    assert "exclude: vision (drops papers mainly about it)" in body
    assert "author: Ada Lovelace" in body
    assert "SpecTr: Fast Speculative Decoding via Optimal Transport" in body
    shoot(page, "preferences")

    page.fill("#interests", "protein folding")  # the live preview follows the typing
    page.wait_for_selector("#preview >> text=topic: protein folding")
    with session_scope(stored) as session:
        row = find_by_email(session, "reader@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.ACTIVE
        assert row.interests.startswith('"speculative decoding"')  # typing saved nothing

    mail_digest(stored, server, "reader@example.com", smtp)
    digest = handler.wait(2)
    targets = re.findall(r"<([^>]+)>", str(digest["List-Unsubscribe"]))
    web_target = next(t for t in targets if t.startswith("http"))
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.goto(web_target)
    shoot(page, "unsubscribe")
    one_click = httpx.post(web_target, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert one_click.status_code == 200
    assert "set-cookie" not in one_click.headers
    page.reload()
    assert "You are unsubscribed" in page.inner_text("main")
    shoot(page, "unsubscribed")
    later = compose_due(
        stored, now=NOW + timedelta(days=1), policy=EditionPolicy(), corpus=CorpusCache()
    )
    assert later.editions == 0
    assert later.deliveries == 0
    assert outside == []
    assert errors == []
    context.close()
