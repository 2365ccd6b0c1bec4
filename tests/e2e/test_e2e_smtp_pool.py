"""Confirmation mails of sign-ups that arrive together all reach the SMTP server intact.

Found by the two-weeks scenario: the web app sends each confirmation from its own
background task through one shared SMTP transport (one connection), and concurrent sends
used that connection at the same time. Their commands interleaved ("503 nested MAIL
command", a 250 read as another mail's reply), the transport paused itself, and every later
confirmation of the process was dropped. Each send must have a connection to itself.
"""

from __future__ import annotations

import asyncio
from email import message_from_bytes

from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.smtp import SmtpTransport, parse_smtp_url
from paperfeed.mailer.transport import Outcome
from tests.e2e.e2e_mailbox import running_mailbox

AT_ONCE = 12


def _mail(n: int) -> OutgoingMail:
    body = (
        f"From: paperfeed@localhost\r\nTo: reader{n}@example.org\r\n"
        f"Message-ID: <paperfeed.confirm.{n}@localhost>\r\nSubject: confirm {n}\r\n\r\n"
        + f"line {n}\r\n"
        * 200
    )
    return OutgoingMail(
        f"<paperfeed.confirm.{n}@localhost>",
        "paperfeed@localhost",
        f"reader{n}@example.org",
        body.encode(),
    )


def test_sends_at_once_on_a_one_connection_pool_each_arrive_intact() -> None:
    with running_mailbox() as mailbox:
        # What the web app opens: one connection, shared by every request's background task.
        transport = SmtpTransport(parse_smtp_url(mailbox.url), pool_size=1, max_attempts=1)

        async def sign_ups_at_once() -> list[Outcome]:
            try:
                # The first sign-up opens the connection; then several come at once.
                first = await transport.send([_mail(0)])
                batches = [first] + await asyncio.gather(
                    *(transport.send([_mail(n)]) for n in range(1, AT_ONCE))
                )
            finally:
                await transport.aclose()
            return [result.outcome for batch in batches for result in batch]

        outcomes = asyncio.run(sign_ups_at_once())
        mails = mailbox.mails
    assert outcomes == [Outcome.ACCEPTED] * AT_ONCE
    assert transport.paused_reason is None
    assert sorted(m.recipient for m in mails) == sorted(
        f"reader{n}@example.org" for n in range(AT_ONCE)
    )
    for mail in mails:
        n = mail.recipient.removeprefix("reader").split("@")[0]
        original = message_from_bytes(_mail(int(n)).data)
        assert mail.message.get_payload() == original.get_payload()
