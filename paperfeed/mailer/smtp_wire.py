"""One mail transaction at a time on an SMTP connection that aiosmtplib opened.

aiosmtplib connects, says EHLO, upgrades with STARTTLS and logs in (see smtp.py); then
``take_over`` hands the connection's transport to a lean reply parser, and ``WireSession``
runs MAIL, RCPT and DATA itself: in one write when the server offers PIPELINING (RFC 2920),
one command at a time otherwise. Why: on a 31 KB digest aiosmtplib's ``sendmail`` spends
about 1 ms of CPU, a third of it in regexes that normalise line ends twice and dot-stuff once,
the rest in four locked round trips and address parsing. Here the bytes are checked to be CRLF
already (our MIME builders make them so; others are normalised as aiosmtplib would) and
dot-stuffed with ``bytes.replace``. Envelope addresses are refused, not parsed, when they hold
anything that could break a command line. Replies come back as aiosmtplib's own exceptions,
so smtp.py judges them as before. Knows nothing of retries, pools, templates or the database.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque

import aiosmtplib
from aiosmtplib.response import SMTPResponse

# The same line-end rule as aiosmtplib's, for messages that were not built CRLF.
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_MAX_REPLY = 32 * 1024  # bounds memory when a server streams garbage without line ends
_INVALID_REPLY = -1  # aiosmtplib's code for a reply it cannot parse


def data_payload(data: bytes) -> tuple[bytes, int]:
    """The DATA payload for ``data`` and its SIZE (RFC 1870, before dot-stuffing).

    CRLF line ends, lines starting with "." doubled (RFC 5321 4.5.2), ended by ``.\\r\\n``.
    """
    # Counting is cheap next to a regex pass; a bare LF must never reach the wire unchanged,
    # since servers that read it as a line end could see "\n.\n" end DATA (SMTP smuggling).
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _LINE_END.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    size = len(data)
    if data.startswith(b"."):
        data = b"." + data
    if b"\n." in data:
        data = data.replace(b"\n.", b"\n..")
    return data + b".\r\n", size


def envelope_address(address: str) -> bytes:
    """``address`` as the bytes between ``<`` and ``>``; ValueError if it could break the line."""
    if not address or not (address.isascii() and address.isprintable()) or " " in address:
        raise ValueError(f"envelope address {address[:80]!r} must be printable ASCII, no spaces")
    if "<" in address or ">" in address:
        raise ValueError(f"envelope address {address[:80]!r} must not hold angle brackets")
    return address.encode("ascii")


class _Replies(asyncio.Protocol):
    """Parses the server's replies as they arrive and queues them, in order."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.lost: Exception | None = None
        self.expected = 0  # replies owed to commands sent; others are dropped, as aiosmtplib does

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            line = bytes(buffer[start:end])
            start = end + 1
            try:
                code = int(line[:3])
            except ValueError:
                text = line.decode("utf-8", "replace")[:200]
                self._fail(aiosmtplib.SMTPResponseException(_INVALID_REPLY, f"bad reply {text!r}"))
                return
            self._lines.append(line[4:].strip(b" \t\r"))
            if line[3:4] != b"-":  # the last line of a (possibly multiline) reply
                if self.expected > 0:  # else unsolicited: never pair it with a later command
                    self.expected -= 1
                    message = b"\n".join(self._lines).decode("utf-8", "surrogateescape")
                    self._replies.append(SMTPResponse(code, message))
                self._lines = []
        del buffer[:start]
        if len(buffer) + sum(map(len, self._lines)) > _MAX_REPLY:
            self._fail(aiosmtplib.SMTPResponseException(_INVALID_REPLY, "reply too long"))
            return
        if self._replies:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        lost = aiosmtplib.SMTPServerDisconnected(f"connection lost: {exc or 'closed'}")
        lost.__cause__ = exc
        self._fail(lost)

    def _fail(self, exc: Exception) -> None:
        if self.lost is None:
            self.lost = exc
        self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float) -> SMTPResponse:
        """The next reply, waiting at most ``timeout`` seconds for it."""
        if not self._replies:
            if self.lost is not None:
                raise self.lost
            waiter = self._waiter = self._loop.create_future()
            expire = self._loop.call_later(timeout, _expire, waiter, timeout)
            try:
                await waiter
            finally:
                expire.cancel()
                self._waiter = None
            if not self._replies:
                raise self.lost or aiosmtplib.SMTPServerDisconnected("connection lost")
        return self._replies.popleft()


def _expire(waiter: asyncio.Future[None], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(
            aiosmtplib.SMTPReadTimeoutError(f"no reply from the server within {timeout} s")
        )


class WireSession:
    """An open SMTP session after EHLO: sends one transaction at a time (no locking)."""

    def __init__(self, smtp: aiosmtplib.SMTP, replies: _Replies, *, timeout: float) -> None:
        self._smtp = smtp  # kept so close() leaves aiosmtplib's state consistent
        self._replies = replies
        self._transport = replies.transport
        self._timeout = timeout
        self.pipelining = smtp.supports_extension("pipelining")
        self._size = smtp.supports_extension("size")
        self._8bitmime = smtp.supports_extension("8bitmime")

    @property
    def is_connected(self) -> bool:
        return self._replies.lost is None and not self._transport.is_closing()

    async def sendmail(self, sender: str, recipient: str, data: bytes) -> str:
        """One transaction; the server's final reply, or aiosmtplib's exception for a refusal.

        Raises ``SMTPSenderRefused``, ``SMTPRecipientsRefused`` (one recipient),
        ``SMTPDataError``, ``SMTPServerDisconnected``, ``SMTPReadTimeoutError`` or ValueError
        (an address refused before anything is sent).
        """
        payload, size = data_payload(data)
        mail = b"MAIL FROM:<" + envelope_address(sender) + b">"
        if self._size:
            mail += b" SIZE=%d" % size
        if self._8bitmime and not data.isascii():
            mail += b" BODY=8BITMIME"  # RFC 6152: the UTF-8 text part travels as 8bit
        rcpt = b"RCPT TO:<" + envelope_address(recipient) + b">\r\n"
        if self.pipelining:
            self._write(mail + b"\r\n" + rcpt + b"DATA\r\n", replies=3)
            mail_reply = await self._reply()
            rcpt_reply = await self._reply() if mail_reply.code != 421 else mail_reply
            data_reply = await self._reply() if rcpt_reply.code != 421 else rcpt_reply
            if data_reply.code == 354 and not (mail_reply.code == rcpt_reply.code == 250):
                # RFC 2920 3.1: a DATA accepted after a refusal gets an empty message.
                self._write(b".\r\n")
                await self._reply()
        else:
            self._write(mail + b"\r\n")
            mail_reply = rcpt_reply = data_reply = await self._reply()
            if mail_reply.code == 250:
                self._write(rcpt)
                rcpt_reply = data_reply = await self._reply()
                if rcpt_reply.code in (250, 251):
                    self._write(b"DATA\r\n")
                    data_reply = await self._reply()
        if mail_reply.code != 250:
            await self._reset()
            raise aiosmtplib.SMTPSenderRefused(mail_reply.code, mail_reply.message, sender)
        if rcpt_reply.code not in (250, 251):
            await self._reset()
            refused = aiosmtplib.SMTPRecipientRefused(
                rcpt_reply.code, rcpt_reply.message, recipient
            )
            raise aiosmtplib.SMTPRecipientsRefused([refused])
        if data_reply.code != 354:
            await self._reset()
            raise aiosmtplib.SMTPDataError(data_reply.code, data_reply.message)
        self._write(payload)
        reply = await self._reply()
        if reply.code != 250:
            await self._reset()
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return reply.message

    async def quit(self) -> None:
        """Say QUIT, wait briefly for the goodbye, and close."""
        try:
            if self.is_connected:
                self._write(b"QUIT\r\n")
                await self._replies.next(min(self._timeout, 5.0))
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        self._smtp.close()  # closes our transport too
        self._transport.close()

    def _write(self, data: bytes, *, replies: int = 1) -> None:
        if not self.is_connected:
            raise self._replies.lost or aiosmtplib.SMTPServerDisconnected("connection closed")
        self._replies.expected += replies
        self._transport.write(data)  # type: ignore[attr-defined]

    async def _reply(self) -> SMTPResponse:
        reply = await self._replies.next(self._timeout)
        if reply.code == 421:  # the server is closing this connection (as aiosmtplib does)
            self.close()
        return reply

    async def _reset(self) -> None:
        # Clear the envelope for the next message, as aiosmtplib's sendmail does.
        if not self.is_connected:
            return
        try:
            self._write(b"RSET\r\n")
            reply = await self._reply()
        except (aiosmtplib.SMTPException, OSError):
            self.close()
            return
        if reply.code != 250:
            self.close()  # a session that cannot reset is not worth keeping


async def take_over(smtp: aiosmtplib.SMTP, *, timeout: float) -> WireSession:
    """Say EHLO if aiosmtplib has not, then take its connected transport over."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not smtp.is_connected:
                raise
            await smtp.helo()
    transport = smtp.transport
    if transport is None or transport.is_closing():
        raise aiosmtplib.SMTPServerDisconnected("connection lost right after EHLO")
    replies = _Replies(transport)
    transport.set_protocol(replies)
    return WireSession(smtp, replies, timeout=timeout)
