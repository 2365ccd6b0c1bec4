"""Fixtures for the mailer: a fixed edition day, a subscriber, and real SMTP servers.

The SMTP servers are aiosmtpd ``Controller``s on a free 127.0.0.1 port, started in their own
thread and waited on until they answer; each test gets its own and stops it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.message import OutgoingMail, Sender, make_message_id, make_sender
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import DayView, Recipient, SubscriberDigest
from tests.mailer.mail_samples import NOW, Server, make_day, make_digest, make_recipient
from tests.support.ports import free_port


@pytest.fixture
def day() -> DayView:
    """An edition day of 16 papers, the first with a hostile title."""
    return make_day()


@pytest.fixture
def recipient() -> Recipient:
    return make_recipient()


@pytest.fixture
def digest(recipient: Recipient) -> SubscriberDigest:
    return make_digest(recipient)


@pytest.fixture
def sender() -> Sender:
    return make_sender("paperfeed <digest@example.org>")


@pytest.fixture
def outgoing(day: DayView, sender: Sender) -> Callable[..., list[OutgoingMail]]:
    """Build ``n`` digests as flat messages, one per subscriber ``user<i>@example.com``."""
    compiled = compile_day(day)
    shell = compile_shell(sender)

    def build(n: int, *, domain: str = "example.com") -> list[OutgoingMail]:
        mails = []
        for i in range(n):
            who = make_recipient(f"user{i}@{domain}")
            mails.append(
                digest_mail(
                    shell,
                    render_digest(compiled, make_digest(who)),
                    who,
                    message_id=make_message_id("delivery", i, domain=sender.domain),
                    date=NOW,
                )
            )
        return mails

    return build


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """Start an aiosmtpd server with the given handler and options; stopped after the test."""
    controllers: list[Controller] = []

    def start(handler: Any, **smtp_options: Any) -> Server:
        for _ in range(5):  # another process may take the probed port first
            controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_options)
            try:
                controller.start()  # returns once the server answers a connection
            except (OSError, RuntimeError):
                continue
            controllers.append(controller)
            return Server("127.0.0.1", controller.port, handler)
        raise RuntimeError("no free port for the test SMTP server after 5 tries")

    yield start
    for controller in controllers:
        controller.stop()
