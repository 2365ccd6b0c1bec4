"""The SMTP transport: a pool of persistent aiosmtplib connections behind one rate limit.

URLs (``PAPERFEED_SMTP_URL``):

* ``smtp://[user:pass@]host[:port]`` (port 25): STARTTLS when the server offers it, and
  required whenever a user is given, so a password never crosses the wire in the clear.
  ``?starttls=required`` insists on it, ``?starttls=off`` never tries (loopback only with a user).
* ``smtps://[user:pass@]host[:port]`` (port 465): TLS from the first byte.
* ``?timeout=SECONDS`` (default 30) bounds each command. User and password are percent-decoded.

aiosmtplib opens each connection (EHLO, STARTTLS, AUTH); smtp_wire.py then runs every mail
transaction on it, pipelined when the server offers PIPELINING, since aiosmtplib's own
``sendmail`` costs more CPU than rendering. Each message is tried on one of ``pool_size``
connections. 4xx replies and lost connections are retried with exponential backoff (stamina),
a bounded number of times; 5xx never is. A 5xx at RCPT whose enhanced code is absent or
5.1.x/5.2.x means the address is bad: the result names it in ``bounced``. ``error_threshold``
failures in a row, a refused login or a refused sender pause the transport with one clear log
line. Knows nothing of templates or the database.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import stamina
import structlog
from aiolimiter import AsyncLimiter

from paperfeed.config import redacted_url
from paperfeed.errors import TransportError
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.smtp_wire import WireSession, take_over
from paperfeed.mailer.transport import Outcome, SendResult, not_tried

log = structlog.get_logger("paperfeed.mail")
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.\d{1,3}\b")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_CONNECTION_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to connect, parsed from an SMTP URL."""

    hostname: str
    port: int
    use_tls: bool = False
    start_tls: bool | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp://user:pass@host:587`` and friends to a ``SmtpConfig`` (see the module doc)."""
    shown = redacted_url(url)  # never show the password, even of a URL that does not parse
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - raises on a malformed host ("[host")
    except ValueError:
        raise TransportError(
            f"PAPERFEED_SMTP_URL {shown!r} is not a URL; e.g. smtp://user:pass@mail.example.org:587"
        ) from None
    if parts.scheme not in ("smtp", "smtps"):
        raise TransportError(
            f"PAPERFEED_SMTP_URL {shown!r} must start with smtp:// or smtps://; "
            "e.g. smtp://user:pass@mail.example.org:587"
        )
    if not parts.hostname:
        raise TransportError(f"PAPERFEED_SMTP_URL {shown!r} names no host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        # Not the parser's words: they quote the text after the colon, which is the password
        # when the user information holds a "/" ("smtp://user:pass/word@host").
        raise TransportError(
            f"PAPERFEED_SMTP_URL {shown!r} has a bad port (a number up to 65535)"
        ) from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise TransportError(
            f"PAPERFEED_SMTP_URL {shown!r} has unknown options {sorted(unknown)}; "
            "only starttls and timeout are understood"
        )
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    start_tls = _start_tls(parts.scheme, query.get("starttls"), username, parts.hostname, shown)
    try:
        timeout = float(query.get("timeout", "30"))
    except ValueError as exc:
        raise TransportError(f"PAPERFEED_SMTP_URL {shown!r}: timeout must be seconds") from exc
    return SmtpConfig(
        hostname=parts.hostname,
        port=port,
        use_tls=parts.scheme == "smtps",
        start_tls=start_tls,
        username=username,
        password=password,
        timeout=timeout,
    )


def _start_tls(
    scheme: str, option: str | None, username: str | None, host: str, shown: str
) -> bool | None:
    if scheme == "smtps":
        return False  # already TLS
    if option not in (None, "auto", "required", "off"):
        raise TransportError(
            f"PAPERFEED_SMTP_URL {shown!r}: starttls must be auto, required or off"
        )
    if option == "off":
        if username and host not in _LOOPBACK:
            raise TransportError(
                f"PAPERFEED_SMTP_URL {shown!r} would send a password without TLS; "
                "drop ?starttls=off or use smtps://"
            )
        return False
    if option == "required" or username:
        return True
    return None  # aiosmtplib: STARTTLS if the server offers it


class _Transient(Exception):
    """A 4xx or a lost connection: worth another try."""

    def __init__(self, code: int | None, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(slots=True)
class _Tries:
    """How often one message was tried, and how often it got as far as an open session.

    Only the latter count as attempts in its ``SendResult``: a connection that could not be
    opened (refused, 421 at the greeting, no greeting in time) says nothing about the
    message, so a server that is down for a while uses up none of a delivery's attempts.
    """

    made: int = 0
    offered: int = 0


class SmtpTransport:
    """Sends over ``pool_size`` persistent connections, at most ``rate`` messages a second."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        pool_size: int = 4,
        rate: float = 0.0,
        max_attempts: int = 4,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        error_threshold: int = 20,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if pool_size < 1 or max_attempts < 1 or error_threshold < 1:
            raise TransportError("pool_size, max_attempts and error_threshold must be at least 1")
        self.config = config
        self.pool_size = pool_size
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.error_threshold = error_threshold
        self._tls_context = tls_context
        self._limiter = AsyncLimiter(rate, 1.0) if rate > 0 else None
        self._connections: list[WireSession | None] = [None] * pool_size
        # Slots not in use. A connection runs one transaction at a time, and the web app
        # sends each confirmation from its own task: concurrent ``send`` calls must each
        # hold their slots, not share one. Made on first use, in the loop that sends.
        self._free: asyncio.Queue[int] | None = None
        self._free_loop: asyncio.AbstractEventLoop | None = None
        self._errors_in_a_row = 0
        self._paused: str | None = None

    @property
    def paused_reason(self) -> str | None:
        """Why sending stopped, or None while it goes on."""
        return self._paused

    async def send(self, messages: Sequence[OutgoingMail]) -> list[SendResult]:
        """Send every message over the pool; one result per message, in order."""
        results: list[SendResult | None] = [None] * len(messages)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(messages)):
            queue.put_nowait(index)

        free = self._free_slots()

        async def worker() -> None:
            slot = await free.get()
            try:
                while not queue.empty():
                    index = queue.get_nowait()
                    results[index] = await self._deliver(slot, messages[index])
            finally:
                free.put_nowait(slot)

        workers = min(self.pool_size, len(messages))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return [r for r in results if r is not None]

    def _free_slots(self) -> asyncio.Queue[int]:
        loop = asyncio.get_running_loop()
        if self._free is None or self._free_loop is not loop:
            self._free = asyncio.Queue()
            for slot in range(self.pool_size):
                self._free.put_nowait(slot)
            self._free_loop = loop
        return self._free

    def resume(self) -> None:
        """Forget a pause and the errors in a row: the next send tries the server again."""
        self._paused = None
        self._errors_in_a_row = 0

    async def aclose(self) -> None:
        """QUIT every open connection (closing it if the server is gone)."""
        for slot, session in enumerate(self._connections):
            self._connections[slot] = None
            if session is not None:
                await session.quit()

    async def _deliver(self, slot: int, message: OutgoingMail) -> SendResult:
        tries = _Tries()
        try:
            async for attempt in stamina.retry_context(
                on=_Transient,
                attempts=self.max_attempts,
                timeout=None,
                wait_initial=self.backoff_initial,
                wait_max=self.backoff_max,
                wait_jitter=self.backoff_initial,
            ):
                with attempt:
                    tries.made = attempt.num
                    if self._paused:
                        return not_tried(message, self._paused)
                    result = await self._try_once(slot, message, tries)
                    return self._count(result)
        except _Transient as exc:
            return self._count(
                SendResult(
                    message_id=message.message_id,
                    outcome=Outcome.RETRY_LATER,
                    code=exc.code,
                    detail=f"gave up after {tries.made} tries: {exc.detail}",
                    attempts=tries.offered,
                )
            )
        raise AssertionError("stamina.retry_context ended without a result")  # pragma: no cover

    async def _try_once(self, slot: int, message: OutgoingMail, tries: _Tries) -> SendResult:
        def result(outcome: Outcome, code: int | None, detail: str, **extra: object) -> SendResult:
            return SendResult(
                message_id=message.message_id,
                outcome=outcome,
                code=code,
                detail=detail,
                attempts=tries.offered,
                **extra,  # type: ignore[arg-type]
            )

        try:
            try:
                session = await self._connection(slot)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code < 500 or isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                    raise
                # A 5xx before any message (greeting, EHLO) refuses us, not this subscriber:
                # failing the delivery would fail every delivery of the pass for good.
                self._drop(slot)
                self._pause(
                    f"the SMTP server {self.config.hostname} refuses connections "
                    f"({exc.code} {exc.message}); check PAPERFEED_SMTP_URL and the relay"
                )
                return result(Outcome.RETRY_LATER, exc.code, exc.message)
            tries.offered += 1
            if self._limiter is not None:
                await self._limiter.acquire()
            reply = await session.sendmail(message.envelope_from, message.recipient, message.data)
            return result(Outcome.ACCEPTED, 250, reply)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            if refused.code < 500:
                raise _Transient(refused.code, refused.message) from exc
            bounced = (message.recipient,) if _bad_address(refused.message) else ()
            return result(Outcome.REJECTED, refused.code, refused.message, bounced=bounced)
        except aiosmtplib.SMTPAuthenticationError as exc:
            self._drop(slot)
            self._pause(
                f"the SMTP server refused our login ({exc.code} {exc.message}); "
                "check the user and password in PAPERFEED_SMTP_URL"
            )
            return result(Outcome.RETRY_LATER, exc.code, exc.message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421 or exc.code < 400:
                self._drop(slot)  # 421: the server is closing this connection
            if exc.code < 500:
                raise _Transient(exc.code, exc.message) from exc
            if isinstance(exc, aiosmtplib.SMTPSenderRefused):
                self._pause(
                    f"the SMTP server refuses our sender {message.envelope_from!r} "
                    f"({exc.code} {exc.message}); check PAPERFEED_FROM"
                )
                return result(Outcome.RETRY_LATER, exc.code, exc.message)
            return result(Outcome.REJECTED, exc.code, exc.message)
        except (*_CONNECTION_ERRORS, TimeoutError) as exc:
            self._drop(slot)
            raise _Transient(None, f"connection lost: {exc}") from exc
        except aiosmtplib.SMTPException as exc:
            # e.g. STARTTLS required but not offered: no retry will change that.
            self._drop(slot)
            self._pause(
                f"cannot use the SMTP server {self.config.hostname}: {exc}; "
                "check PAPERFEED_SMTP_URL"
            )
            return result(Outcome.RETRY_LATER, None, str(exc))
        except ValueError as exc:  # smtp_wire refuses an address it cannot send safely
            return result(Outcome.REJECTED, None, f"address refused before sending: {exc}")

    async def _connection(self, slot: int) -> WireSession:
        session = self._connections[slot]
        if session is not None and session.is_connected:
            return session
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.hostname,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.use_tls,
            start_tls=c.start_tls,
            timeout=c.timeout,
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()  # EHLO, STARTTLS and AUTH stay aiosmtplib's
            session = await take_over(smtp, timeout=c.timeout)
        except BaseException:
            smtp.close()
            raise
        self._connections[slot] = session
        return session

    def _drop(self, slot: int) -> None:
        session, self._connections[slot] = self._connections[slot], None
        if session is not None:
            session.close()

    def _count(self, result: SendResult) -> SendResult:
        if result.outcome is Outcome.ACCEPTED:
            self._errors_in_a_row = 0
            return result
        if self._paused:
            return result
        self._errors_in_a_row += 1
        if self._errors_in_a_row >= self.error_threshold:
            self._pause(
                f"{self._errors_in_a_row} messages in a row failed, the last with "
                f"{result.code or 'no reply'}: {result.detail}; check the SMTP server and "
                "its logs, then run `paperfeed send` again"
            )
        return result

    def _pause(self, reason: str) -> None:
        if self._paused is None:
            self._paused = reason
            log.error("sending paused", reason=reason, host=self.config.hostname)


def _bad_address(reply: str) -> bool:
    # RFC 3463: 5.1.x is a bad address and 5.2.x a bad mailbox; 5.7.x (policy, relaying
    # denied) says nothing about the subscriber, so it must not unsubscribe them.
    match = _ENHANCED.match(reply)
    return match is None or match.group(2) in ("1", "2")
