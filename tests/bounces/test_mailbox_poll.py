"""The bounce mailbox, polled from a real dovecot: each report becomes the right state, once.

Every test starts a private dovecot (tests/support/dovecot.py), puts real-shaped reports in
its INBOX (tests/bounces/mailbox_samples.py) and polls it as the daemon does, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from paperfeed.bounces import imap_poll
from paperfeed.bounces.dsn_reports import read_report
from paperfeed.bounces.events import BouncePolicy, ReportedEvent
from paperfeed.bounces.imap_poll import MailboxError, PollSummary, mailbox_address, poll_mailbox
from paperfeed.store.db import session_scope
from paperfeed.store.models import MailEvent, MailEventKind
from tests.bounces import mailbox_samples as samples
from tests.bounces.bounce_samples import sent_digest, status_of
from tests.support.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.support.ports import free_port

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
POLICY = BouncePolicy(soft_bounce_limit=3, soft_bounce_days=14)


@pytest.fixture
def mailbox() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


def _poll(engine: Engine, server: Dovecot, *, now: datetime = NOW) -> PollSummary:
    return poll_mailbox(engine, mailbox_address(server.url()), now=now, policy=POLICY, batch=3)


def _events(engine: Engine) -> list[tuple[int | None, str]]:
    with session_scope(engine) as session:
        rows = session.exec(select(MailEvent).order_by(col(MailEvent.id))).all()
        return [(row.subscriber_id, row.kind) for row in rows]


def test_each_report_in_the_mailbox_becomes_the_right_state(
    engine: Engine, mailbox: Dovecot
) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    bob, bob_id = sent_digest(engine, "bob@example.net", at=NOW)
    cat, cat_id = sent_digest(engine, "cat@example.net", at=NOW)
    dan, dan_id = sent_digest(engine, "dan@yahoo.com", at=NOW)
    eve, eve_id = sent_digest(engine, "eve@outlook.com", at=NOW)
    fay, fay_id = sent_digest(engine, "fay@example.net", at=NOW)
    gus, _ = sent_digest(engine, "gus@example.net", at=NOW)
    mailbox.deliver(
        samples.postfix_unknown_user(ada_id, "ada@example.net", NOW),
        samples.auto_reply(fay_id, "fay@example.net", NOW),
        samples.exim_unknown_user(bob_id, "bob@example.net", NOW),
        samples.broken_report("gus@example.net", NOW),
        samples.postfix_mailbox_full(cat_id, "cat@example.net", NOW),
        samples.yahoo_complaint(dan_id, "dan@yahoo.com", NOW),
        samples.microsoft_complaint(eve_id, NOW),
    )

    summary = _poll(engine, mailbox)

    states = {who: status_of(engine, who) for who in (ada, bob, cat, dan, eve, fay, gus)}
    assert states == {
        ada: "bounced",
        bob: "bounced",
        cat: "active",  # one day of a full mailbox: counted, not bounced
        dan: "unsubscribed",
        eve: "unsubscribed",  # matched by the Message-ID alone (the address was redacted)
        fay: "active",
        gus: "active",  # the unreadable report names him, and changes nothing
    }
    assert sorted(_events(engine)) == sorted(
        [
            (ada, MailEventKind.HARD_BOUNCE),
            (bob, MailEventKind.HARD_BOUNCE),
            (cat, MailEventKind.SOFT_BOUNCE),
            (dan, MailEventKind.COMPLAINT),
            (eve, MailEventKind.COMPLAINT),
        ]
    )
    assert (summary.read, summary.reports, summary.other, summary.unreadable) == (7, 5, 1, 1)
    assert (summary.recorded, sorted(summary.bounced), sorted(summary.unsubscribed)) == (
        5,
        sorted([ada, bob]),
        sorted([dan, eve]),
    )
    # Reports are gone; the auto-reply is read and kept, the broken one kept and flagged.
    assert mailbox.messages() == {
        "Automatic reply: Your papers for today: 5 picks": {"\\Seen"},
        "Delivery Status Notification (Failure)": {"\\Seen", "\\Flagged"},
    }


def test_polling_twice_records_nothing_twice(engine: Engine, mailbox: Dovecot) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    dan, dan_id = sent_digest(engine, "dan@yahoo.com", at=NOW)
    reports = (
        samples.postfix_mailbox_full(ada_id, "ada@example.net", NOW),
        samples.yahoo_complaint(dan_id, "dan@yahoo.com", NOW),
    )
    mailbox.deliver(*reports)
    first = _poll(engine, mailbox)
    again = _poll(engine, mailbox)
    # The same reports arriving again (a relay retrying, a poll that crashed before its
    # flags were stored) are recognised by their own Message-ID.
    mailbox.deliver(*reports)
    repeated = _poll(engine, mailbox, now=NOW + timedelta(days=1))

    assert (first.recorded, first.unsubscribed) == (2, [dan])
    assert (again.read, again.recorded) == (0, 0)
    assert (repeated.read, repeated.recorded, repeated.repeated) == (2, 0, 2)
    assert sorted(_events(engine)) == sorted(
        [(ada, MailEventKind.SOFT_BOUNCE), (dan, MailEventKind.COMPLAINT)]
    )
    assert mailbox.messages() == {}


def test_reports_stay_unread_when_the_database_fails_and_are_read_next_time(
    engine: Engine, mailbox: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    mailbox.deliver(samples.postfix_unknown_user(ada_id, "ada@example.net", NOW))

    def database_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patch:
        patch.setattr(imap_poll, "apply_reported", database_down)
        with pytest.raises(OperationalError):
            _poll(engine, mailbox)
    assert mailbox.messages() == {"Undelivered Mail Returned to Sender": set()}
    again = _poll(engine, mailbox)
    assert (again.recorded, again.bounced) == (1, [ada])
    assert mailbox.messages() == {}


def test_a_mail_that_trips_the_reader_is_kept_and_the_poll_goes_on(
    engine: Engine, mailbox: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    bob, bob_id = sent_digest(engine, "bob@example.net", at=NOW)
    mailbox.deliver(
        samples.exim_unknown_user(bob_id, "bob@example.net", NOW),
        samples.postfix_unknown_user(ada_id, "ada@example.net", NOW),
    )

    def buggy(raw: bytes, *, now: datetime) -> list[ReportedEvent]:
        if b"X-Failed-Recipients" in raw:
            raise RuntimeError("a bug in a detector")
        return read_report(raw, now=now)

    monkeypatch.setattr(imap_poll, "read_report", buggy)
    summary = _poll(engine, mailbox)
    assert (summary.read, summary.reports, summary.unreadable) == (2, 1, 1)
    assert (status_of(engine, ada), status_of(engine, bob)) == ("bounced", "active")
    assert mailbox.messages() == {
        "Mail delivery failed: returning message to sender": {"\\Seen", "\\Flagged"}
    }


def test_soft_bounces_on_three_days_bounce_the_reader(engine: Engine, mailbox: Dovecot) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    bob, _ = sent_digest(engine, "bob@example.net", at=NOW)
    states = []
    for day in range(3):
        at = NOW + timedelta(days=day)
        mails = [samples.postfix_mailbox_full(ada_id, "ada@example.net", at, n=day)]
        if day == 0:  # a second report the same day is the same day of a full mailbox
            mails.append(samples.delay_warning(ada_id, "ada@example.net", at + timedelta(hours=1)))
        mailbox.deliver(*mails)
        _poll(engine, mailbox, now=at + timedelta(hours=2))
        states.append(status_of(engine, ada))
    assert states == ["active", "active", "bounced"]
    assert status_of(engine, bob) == "active"
    with session_scope(engine) as session:
        soft = session.exec(
            select(func.count())
            .select_from(MailEvent)
            .where(MailEvent.kind == MailEventKind.SOFT_BOUNCE)
        ).one()
    assert soft == 4


def test_imaps_with_a_verified_certificate(engine: Engine) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    with running_dovecot(tls=True) as server:
        server.deliver(samples.postfix_unknown_user(ada_id, "ada@example.net", NOW))
        address = mailbox_address(server.tls_url())
        # A certificate the system does not trust is refused, with no password in the error.
        with pytest.raises(MailboxError) as refused:
            poll_mailbox(engine, address, now=NOW, policy=POLICY)
        summary = poll_mailbox(
            engine, address, now=NOW, policy=POLICY, context=server.client_context()
        )
    assert "certificate" in str(refused.value).lower()
    assert PASSWORD not in str(refused.value)
    assert (summary.recorded, summary.bounced) == (1, [ada])


def test_imap_upgrades_to_tls_when_the_server_offers_starttls(engine: Engine) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    with running_dovecot(tls=True) as server:
        server.deliver(samples.postfix_unknown_user(ada_id, "ada@example.net", NOW))
        address = mailbox_address(server.starttls_url())
        with pytest.raises(MailboxError, match="certificate"):
            poll_mailbox(engine, address, now=NOW, policy=POLICY)
        summary = poll_mailbox(
            engine, address, now=NOW, policy=POLICY, context=server.client_context()
        )
        logins = [line for line in server.log().splitlines() if "Login: user=<bounces>" in line]
    assert (summary.recorded, summary.bounced) == (1, [ada])
    # dovecot says how each login was protected: the poller's went over TLS.
    assert ", TLS, " in logins[-1]


def test_a_wrong_password_is_a_clear_error_without_the_password(mailbox: Dovecot) -> None:
    wrong = "not-the-password-4711"
    with pytest.raises(MailboxError) as refused:
        _poll_nothing(mailbox.url(password=wrong))
    message = str(refused.value)
    assert "refused the login" in message
    assert "PAPERFEED_BOUNCE_MAILBOX_URL" in message
    assert f"127.0.0.1:{mailbox.port}" in message
    assert wrong not in message
    assert PASSWORD not in message


def test_an_unreachable_server_and_a_missing_folder_are_clear_errors(mailbox: Dovecot) -> None:
    closed = free_port()
    with pytest.raises(MailboxError) as unreachable:
        _poll_nothing(f"imap://bounces:hunter2secret@127.0.0.1:{closed}/INBOX")
    with pytest.raises(MailboxError) as no_folder:
        _poll_nothing(mailbox.url(folder="Bounces"))
    assert f"cannot reach the bounce mailbox imap://bounces@127.0.0.1:{closed}" in str(
        unreachable.value
    )
    assert "hunter2secret" not in str(unreachable.value)
    assert "no folder 'Bounces'" in str(no_folder.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("pop3://u:p@mail.example.org/", "must start with imaps://"),
        ("imaps://mail.example.org/INBOX", "must hold the user and password"),
        ("imaps://u:p@/INBOX", "names no host"),
        ("imaps://u:p@mail.example.org:99999/", "not a URL paperfeed can read"),
    ],
)
def test_a_bad_url_is_a_config_error(url: str, says: str) -> None:
    with pytest.raises(MailboxError, match=says):
        mailbox_address(url)


def test_the_url_is_decoded_and_its_password_never_shown() -> None:
    address = mailbox_address("imaps://bounce%40example.org:p%3Ass%2Fw@mail.example.org/Bounces")
    assert (address.user, address.password, address.port) == (
        "bounce@example.org",
        "p:ss/w",
        993,
    )
    assert address.folder == "Bounces"
    assert "p:ss/w" not in repr(address)
    assert "p:ss/w" not in address.where


def _poll_nothing(url: str) -> PollSummary:
    # No database is reached: the connection fails first.
    return poll_mailbox(None, mailbox_address(url), now=NOW, policy=POLICY)  # type: ignore[arg-type]
