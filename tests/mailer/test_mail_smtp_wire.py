"""The SMTP session's own wire work: dot-stuffing, line ends, addresses, pipelining, timeouts."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.message import Sender
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.smtp import SmtpConfig, SmtpTransport
from paperfeed.mailer.smtp_wire import data_payload
from paperfeed.mailer.transport import Outcome, SendResult
from paperfeed.mailer.views import DayView
from tests.mailer.mail_samples import NOW, body, make_digest, make_paper, make_recipient, parse
from tests.mailer.smtp_samples import FAST, Build, Sink, Start, piped, send


class NotesOptions(Sink):
    """Keeps the MAIL FROM options of every message it takes."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_options: list[list[str]] = []

    def accept(self, envelope: Any) -> str:
        self.mail_options.append(list(envelope.mail_options))
        return super().accept(envelope)


class Slow(Sink):
    """Takes a second to answer DATA: longer than a short client timeout."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(1)
        return self.accept(envelope)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_lines_starting_with_a_dot_arrive_intact(
    smtp_server: Start, day: DayView, sender: Sender, pipelining: bool
) -> None:
    # The text part indents titles and abstracts; a template that did not would start lines
    # with them, so the dots are put at line starts here. A lone "." would end DATA early.
    papers = list(day.papers)
    papers[1] = make_paper(1, title=".NET ports of video diffusion", abstract=".5 bits suffice.")
    who = make_recipient("ada@example.com")
    rendered = render_digest(compile_day(replace(day, papers=tuple(papers))), make_digest(who))
    mail = digest_mail(
        compile_shell(sender), rendered, who, message_id="<paperfeed.dot@example.org>", date=NOW
    )
    data = mail.data.replace(b"   .5 bits suffice.\r\n", b".5 bits suffice.\r\n.\r\n..\r\n")
    data = data.replace(b"2. .NET ports", b".NET ports")
    assert b"\r\n.NET ports" in data
    assert b"\r\n.\r\n" in data
    server = smtp_server(piped(Sink(), pipelining))
    [result] = send(SmtpTransport(server.config()), [replace(mail, data=data)])
    assert result.outcome is Outcome.ACCEPTED
    [(_, received)] = server.handler.received
    assert received == data
    text = body(parse(received), "plain")
    assert "\r\n.NET ports of video diffusion\r\n" in text
    assert "\r\n.5 bits suffice.\r\n.\r\n..\r\n" in text


def test_an_8bit_message_is_declared_8bitmime_with_its_size(
    smtp_server: Start, outgoing: Build
) -> None:
    server = smtp_server(piped(NotesOptions(), True))
    [mail] = outgoing(1)
    assert not mail.data.isascii()  # the text part is UTF-8 (author names)
    [result] = send(SmtpTransport(server.config()), [mail])
    assert result.outcome is Outcome.ACCEPTED
    assert server.handler.mail_options == [[f"SIZE={len(mail.data)}", "BODY=8BITMIME"]]


@pytest.mark.parametrize(
    ("data", "payload", "size"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n", 6),
        (b".a\r\n..b\r\n.\r\n", b"..a\r\n...b\r\n..\r\n.\r\n", 12),
        (b"a\nb", b"a\r\nb\r\n.\r\n", 6),  # bare LF and no final line end
        (b"a\rb\r\r\n.c", b"a\r\nb\r\n\r\n..c\r\n.\r\n", 12),  # bare CR
    ],
)
def test_message_bytes_go_out_crlf_dot_stuffed_and_ended(
    data: bytes, payload: bytes, size: int
) -> None:
    assert data_payload(data) == (payload, size)


@pytest.mark.parametrize("recipient", ["ada@example.com>\r\nRCPT TO:<eve@example.com", "a b@x.org"])
def test_an_address_that_could_break_a_command_is_refused_unsent(
    smtp_server: Start, outgoing: Build, recipient: str
) -> None:
    server = smtp_server(piped(Sink(), True))
    [mail] = outgoing(1)
    [result] = send(SmtpTransport(server.config(), **FAST), [replace(mail, recipient=recipient)])
    assert result.outcome is Outcome.REJECTED
    assert result.detail.startswith("address refused before sending")
    assert server.handler.received == []


def test_a_server_that_does_not_answer_in_time_is_retry_later(
    smtp_server: Start, outgoing: Build
) -> None:
    server = smtp_server(Slow())
    transport = SmtpTransport(replace(server.config(), timeout=0.2), max_attempts=1, **FAST)
    [result] = send(transport, outgoing(1))
    assert result.outcome is Outcome.RETRY_LATER
    assert "no reply from the server within 0.2 s" in result.detail


def test_a_pipelining_server_that_accepts_data_after_refusing_rcpt_gets_an_empty_message(
    outgoing: Build,
) -> None:
    # A scripted server that breaks the rules aiosmtpd keeps: an unsolicited extra line after
    # its EHLO reply, and 354 to DATA after refusing the only recipient. RFC 2920 3.1: the
    # client then sends a lone "." (no message) and resets.
    seen: list[bytes] = []
    replies = {
        b"EHLO": b"250-sink\r\n250 PIPELINING\r\n250 stray line nobody asked for\r\n",
        b"MAIL": b"250 2.1.0 ok\r\n",
        b"RCPT": b"550 5.1.1 no such user\r\n",
        b"DATA": b"354 go ahead\r\n",
        b".": b"250 2.0.0 empty message dropped\r\n",
        b"RSET": b"250 2.0.0 reset\r\n",
        b"QUIT": b"221 bye\r\n",
    }

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted\r\n")
        while line := await reader.readline():
            seen.append(line.rstrip(b"\r\n"))
            writer.write(replies.get(line.split()[0].upper(), b"502 what\r\n"))
            if line.startswith(b"QUIT"):
                break
        writer.close()
        await writer.wait_closed()

    async def run() -> list[SendResult]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = SmtpTransport(SmtpConfig("127.0.0.1", port, start_tls=False, timeout=5))
        try:
            return await transport.send(outgoing(1))
        finally:
            await transport.aclose()
            server.close()
            await server.wait_closed()

    [result] = asyncio.run(run())
    assert result.outcome is Outcome.REJECTED
    assert result.bounced == ("user0@example.com",)
    assert [line.split(b":")[0].split()[0] for line in seen] == [
        b"EHLO",
        b"MAIL",
        b"RCPT",
        b"DATA",
        b".",
        b"RSET",
        b"QUIT",
    ]
    assert seen[1] == b"MAIL FROM:<digest@example.org>"
