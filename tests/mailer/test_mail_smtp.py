"""The SMTP transport against real aiosmtpd servers: retries, bounces, drops, pauses."""

from __future__ import annotations

import ssl
import time
from typing import Any

import pytest
import structlog
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from paperfeed.errors import TransportError
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.smtp import SmtpTransport, parse_smtp_url
from paperfeed.mailer.transport import Outcome
from tests.mailer.mail_samples import NOW, Server, body, parse
from tests.mailer.outbox_samples import AlwaysBusy, BusyOnce
from tests.mailer.smtp_samples import FAST, Build, Sink, Start, piped, send


class RefusesSome(Sink):
    """550s unknown users at RCPT, and 5.7.1s a relay it does not serve."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("gone"):
            return "550 5.1.1 no such user here"
        if address.endswith("@elsewhere.example"):
            return "554 5.7.1 relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class DropsOnce(Sink):
    """Drops the connection at the ``nth`` message, after or before taking it."""

    def __init__(self, nth: int, *, after_accepting: bool) -> None:
        super().__init__()
        self.nth = nth
        self.after_accepting = after_accepting
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        if self.count == self.nth:
            if self.after_accepting:
                self.accept(envelope)  # taken, but the client never hears the 250
            server.transport.abort()
            return "250 2.0.0 too late"
        return self.accept(envelope)


def test_a_digest_arrives_with_both_parts_and_every_header(
    smtp_server: Start, outgoing: Build
) -> None:
    server = smtp_server(Sink())
    [mail] = outgoing(1)
    [result] = send(SmtpTransport(server.config()), [mail])
    assert result.outcome is Outcome.ACCEPTED
    [(rcpts, data)] = server.handler.received
    assert rcpts == ("user0@example.com",)
    message = parse(data)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == "<paperfeed.delivery.0@example.org>"
    assert message["Date"].datetime == NOW
    for header in ("From", "To", "Subject", "List-Id", "List-Unsubscribe", "Auto-Submitted"):
        assert message[header], header
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Scaling Sparse Mixture-of-Experts" in body(message, "html")


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_a_451_then_250_delivers_the_message_once(
    smtp_server: Start, outgoing: Build, pipelining: bool
) -> None:
    server = smtp_server(piped(BusyOnce(), pipelining))
    mails = outgoing(3)
    results = send(SmtpTransport(server.config(), pool_size=2, **FAST), mails)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [r.attempts for r in results] == [2, 2, 2]
    assert sorted(server.handler.message_ids()) == sorted(m.message_id for m in mails)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_a_550_at_rcpt_bounces_that_subscriber_only(
    smtp_server: Start, outgoing: Build, pipelining: bool
) -> None:
    server = smtp_server(piped(RefusesSome(), pipelining))
    mails = outgoing(2) + outgoing(1, domain="x.example")
    gone = OutgoingMail(
        "<paperfeed.delivery.99@example.org>",
        mails[0].envelope_from,
        "gone@example.com",
        mails[0].data,
    )
    results = send(SmtpTransport(server.config(), **FAST), [*mails, gone])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3 + [Outcome.REJECTED]
    assert results[3].bounced == ("gone@example.com",)
    assert results[3].code == 550
    assert results[3].attempts == 1  # a 5xx is never retried
    assert len(server.handler.received) == 3


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_a_policy_refusal_is_not_a_bounce(
    smtp_server: Start, outgoing: Build, pipelining: bool
) -> None:
    server = smtp_server(piped(RefusesSome(), pipelining))
    [result] = send(SmtpTransport(server.config(), **FAST), outgoing(1, domain="elsewhere.example"))
    assert result.outcome is Outcome.REJECTED
    assert result.code == 554
    assert result.bounced == ()


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize("after_accepting", [True, False])
def test_a_connection_dropped_mid_batch_loses_nothing(
    smtp_server: Start, outgoing: Build, after_accepting: bool, pipelining: bool
) -> None:
    server = smtp_server(piped(DropsOnce(7, after_accepting=after_accepting), pipelining))
    mails = outgoing(20)
    pool = 2
    results = send(SmtpTransport(server.config(), pool_size=pool, **FAST), mails)
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert sum(r.attempts for r in results) > len(mails)  # the dropped one was tried again
    ids = server.handler.message_ids()
    assert set(ids) == {m.message_id for m in mails}
    duplicates = len(ids) - len(set(ids))
    assert duplicates <= pool  # at most the messages in flight when the line dropped
    if not after_accepting:
        assert duplicates == 0


def test_connections_are_kept_open_across_messages(smtp_server: Start, outgoing: Build) -> None:
    server = smtp_server(Sink())
    results = send(SmtpTransport(server.config(), pool_size=3), outgoing(12))
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert len(server.handler.sessions) <= 3


def test_a_server_that_stays_busy_is_given_up_on_and_pauses_the_run(
    smtp_server: Start, outgoing: Build
) -> None:
    server = smtp_server(AlwaysBusy())
    transport = SmtpTransport(
        server.config(), pool_size=1, max_attempts=2, error_threshold=3, **FAST
    )
    with structlog.testing.capture_logs() as logs:
        results = send(transport, outgoing(5))
    assert [r.outcome for r in results] == [Outcome.RETRY_LATER] * 5
    assert [r.attempts for r in results] == [2, 2, 2, 0, 0]
    assert results[0].detail == "gave up after 2 tries: 4.3.0 try again later"
    assert transport.paused_reason is not None
    assert transport.paused_reason.startswith("3 messages in a row failed, the last with 451")
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["sending paused"]
    assert server.handler.received == []


def test_no_server_at_all_is_retry_later_not_lost(outgoing: Build) -> None:
    config = parse_smtp_url("smtp://127.0.0.1:9?timeout=2")  # nothing listens on port 9
    transport = SmtpTransport(config, max_attempts=2, error_threshold=2, **FAST)
    results = send(transport, outgoing(3))
    assert {r.outcome for r in results} == {Outcome.RETRY_LATER}
    assert "connection lost" in results[0].detail
    assert transport.paused_reason is not None


def test_the_rate_limit_spaces_messages_out(smtp_server: Start, outgoing: Build) -> None:
    server = smtp_server(Sink())
    mails = outgoing(12)
    started = time.monotonic()
    results = send(SmtpTransport(server.config(), pool_size=4, rate=20), mails)
    elapsed = time.monotonic() - started
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    # A bucket of 20 a second lets the first 20 through at once: 12 must not take a second.
    assert elapsed < 5
    slow = smtp_server(Sink())
    started = time.monotonic()
    send(SmtpTransport(slow.config(), pool_size=4, rate=4), mails[:8])
    assert time.monotonic() - started >= 0.8  # 4 at once, then 4 more at 4 a second


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, False, None, None)),
        ("smtp://u%40x:p%3Aw@mail.example.org:587", ("mail.example.org", 587, False, True, "u@x")),
        ("smtps://u:p@mail.example.org", ("mail.example.org", 465, True, False, "u")),
        ("smtp://127.0.0.1:2525?starttls=off", ("127.0.0.1", 2525, False, False, None)),
        ("smtp://mail.example.org?starttls=required", ("mail.example.org", 25, False, True, None)),
    ],
)
def test_smtp_urls_say_where_and_how_to_connect(url: str, expected: tuple[Any, ...]) -> None:
    config = parse_smtp_url(url)
    assert (config.hostname, config.port, config.use_tls, config.start_tls, config.username) == (
        expected
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.org", "must start with smtp:// or smtps://"),
        ("smtp://u:secret@mail.example.org?starttls=off", "password without TLS"),
        ("smtp://mail.example.org?tls=1", "unknown options"),
        ("smtp://mail.example.org:99999", "bad port"),
    ],
)
def test_a_bad_smtp_url_is_a_clear_error_that_hides_the_password(url: str, message: str) -> None:
    with pytest.raises(TransportError, match=message) as caught:
        parse_smtp_url(url)
    assert "secret" not in str(caught.value)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 and a client context trusting it."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client


class LoginSink(Sink):
    """Takes mail only over TLS from ada with the password pa:ss, and notes how it came."""

    def __init__(self) -> None:
        super().__init__()
        self.secure: list[bool] = []

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> AuthResult:
        ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"ada", b"pa:ss")
        return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 535 itself

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.secure.append(session.ssl is not None and session.authenticated)
        return self.accept(envelope)


def tls_server(smtp_server: Start, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Server:
    handler = LoginSink()
    return smtp_server(
        handler,
        tls_context=tls[0],
        require_starttls=True,
        auth_require_tls=True,
        authenticator=handler.authenticate,
    )


def test_a_user_in_the_url_means_starttls_then_login(
    smtp_server: Start, outgoing: Build, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server = tls_server(smtp_server, tls)
    config = parse_smtp_url(f"smtp://ada:pa%3Ass@127.0.0.1:{server.port}")
    results = send(SmtpTransport(config, tls_context=tls[1]), outgoing(2))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    assert server.handler.secure == [True, True]


def test_a_refused_login_pauses_the_run_and_sends_nothing(
    smtp_server: Start, outgoing: Build, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server = tls_server(smtp_server, tls)
    config = parse_smtp_url(f"smtp://ada:wrong@127.0.0.1:{server.port}?timeout=5")
    transport = SmtpTransport(config, tls_context=tls[1], **FAST)
    results = send(transport, outgoing(3))
    assert {r.outcome for r in results} == {Outcome.RETRY_LATER}
    assert transport.paused_reason is not None
    assert "refused our login (535" in transport.paused_reason
    assert "wrong" not in transport.paused_reason
    assert server.handler.received == []


def test_a_password_is_never_sent_to_a_server_without_tls(
    smtp_server: Start, outgoing: Build
) -> None:
    server = smtp_server(Sink())  # offers no STARTTLS
    transport = SmtpTransport(parse_smtp_url(f"smtp://ada:pa%3Ass@127.0.0.1:{server.port}"))
    results = send(transport, outgoing(1))
    assert results[0].outcome is Outcome.RETRY_LATER
    assert transport.paused_reason is not None
    assert "STARTTLS" in transport.paused_reason
    assert server.handler.received == []
