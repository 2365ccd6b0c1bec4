"""Shared pieces of the SMTP tests: an aiosmtpd sink that keeps what arrived, and a sender."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.smtp import SmtpTransport
from paperfeed.mailer.transport import SendResult
from tests.mailer.mail_samples import Server, parse

FAST: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05}
Start = Callable[..., Server]
Build = Callable[..., list[OutgoingMail]]


class Sink:
    """Accepts everything and keeps what arrived, with the session it came on.

    With ``pipelining`` set it offers PIPELINING (RFC 2920) in its EHLO reply, which aiosmtpd
    does not by default, though it reads pipelined commands in order all the same.
    """

    pipelining = False

    def __init__(self) -> None:
        self.received: list[tuple[tuple[str, ...], bytes]] = []
        self.sessions: set[int] = set()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # the last is "250 HELP"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions.add(id(session))
        return self.accept(envelope)

    def accept(self, envelope: Any) -> str:
        self.received.append((tuple(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 queued"

    def message_ids(self) -> list[str]:
        return [str(parse(data)["Message-ID"]) for _, data in self.received]


def piped(handler: Sink, pipelining: bool) -> Sink:
    handler.pipelining = pipelining
    return handler


def send(transport: SmtpTransport, mails: Sequence[OutgoingMail]) -> list[SendResult]:
    async def run() -> list[SendResult]:
        try:
            return await transport.send(mails)
        finally:
            await transport.aclose()

    return asyncio.run(run())
