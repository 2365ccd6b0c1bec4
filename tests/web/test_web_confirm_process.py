"""Confirmation links through a real ``paperfeed serve`` and a real SMTP server (issue 14,
items 6 and 10).

A subscriber who gets digests already fills in the sign-up form with new interests: the page
is the usual "check your inbox", the mail (caught by aiosmtpd) holds a link whose page shows
what would change, whose button applies it, and which then works no more.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from paperfeed.store.db import session_scope
from paperfeed.store.subscribers import create_subscriber, find_by_email
from tests.web.web_process import served
from tests.web.web_samples import NOW

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"https?://[^/\s]+(/confirm/[A-Za-z0-9._-]+)")


class Catcher:
    """Keeps every message aiosmtpd receives."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.content))
        return "250 2.0.0 kept"


@pytest.fixture
def catcher() -> Iterator[tuple[Catcher, int]]:
    handler = Catcher()
    for _ in range(5):  # another process may take the probed port first
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        try:
            yield handler, port
        finally:
            controller.stop()
        return
    raise RuntimeError("no free port for the test SMTP server after 5 tries")


def _mail_text(catcher: Catcher) -> str:
    deadline = time.monotonic() + 20
    while not catcher.received:  # the web app mails after answering, in the background
        assert time.monotonic() < deadline, "no confirmation mail arrived"
        time.sleep(0.05)
    message = message_from_bytes(catcher.received[-1], policy=policy.default)
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_an_active_subscriber_s_link_applies_their_interests_once(
    engine: Engine, database_url: str, tmp_path: Path, catcher: tuple[Catcher, int]
) -> None:
    handler, smtp_port = catcher
    with session_scope(engine) as session:
        create_subscriber(
            session, email="old@example.com", interests="llm agents", now=NOW, confirmed=True
        )
    settings = {
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_SECRET_KEY": "confirm-process-secret-" + "z" * 32,
        "PAPERFEED_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?starttls=off",
        "PAPERFEED_FROM": "paperfeed <digest@paperfeed.example>",
    }
    with served(tmp_path, settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        token = CSRF.search(http.get("/").text)
        assert token is not None
        form = {
            "csrf": token.group(1),
            "email": "old@example.com",
            "interests": "state space models",
            "timezone": "Asia/Tokyo",
            "send_hour": "6",
            "frequency": "weekly",
        }
        # Redirect after POST: the answer is a 303 to the "check your inbox" page.
        answer = http.post("/subscribe", data=form, follow_redirects=True)
        assert answer.status_code == 200
        assert "Check your inbox" in answer.text
        text = _mail_text(handler)
        assert "Nothing changes until you apply them" in text
        found = LINK.search(text)
        assert found is not None
        path = found.group(1)
        page = http.get(path)
        assert page.status_code == 200
        assert "state space models" in page.text
        with session_scope(engine) as session:
            row = find_by_email(session, "old@example.com")
            assert row is not None
            assert row.interests == "llm agents"  # the GET changed nothing
        done = http.post(path, data={"csrf": token.group(1)}, follow_redirects=False)
        assert done.status_code == 303
        again = http.post(path, data={"csrf": token.group(1)}, follow_redirects=False)
        assert again.status_code == 410
        assert "Already confirmed" in again.text
        assert "/u/" not in again.text
    with session_scope(engine) as session:
        row = find_by_email(session, "old@example.com")
        assert row is not None
        assert (row.interests, row.timezone, row.send_hour, row.frequency) == (
            "state space models",
            "Asia/Tokyo",
            6,
            "weekly",
        )
