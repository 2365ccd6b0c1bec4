"""One mail from the bounce mailbox read into bounce and complaint events (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from flufl.bounce import all_failures

from paperfeed.bounces.dsn_reports import UnreadableReport, read_report
from paperfeed.store.models import MailEventKind
from tests.bounces import mailbox_samples as samples

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
MID = "<paperfeed.k3xtest.delivery.42@example.org>"


def _one(raw: bytes) -> tuple[str, str | None, str | None]:
    (event,) = read_report(raw, now=NOW)
    assert event.source == "imap"
    return event.kind, event.email, event.message_id


def test_a_postfix_user_unknown_is_a_hard_bounce_of_the_digest_it_attaches() -> None:
    raw = samples.postfix_unknown_user(MID, "Ada@Example.net", NOW)
    (event,) = read_report(raw, now=NOW)
    assert (event.kind, event.email, event.message_id) == (
        MailEventKind.HARD_BOUNCE,
        "ada@example.net",
        MID,
    )
    assert event.event_key == "<20260310120000.4QZ3kY0f1Rz9sW.1@mail.example.org> ada@example.net"
    assert event.detail.startswith("5.1.1 smtp; 550 5.1.1")
    assert event.occurred_at == NOW


def test_an_exim_bounce_without_a_dsn_is_read_from_its_headers_and_quoted_text() -> None:
    raw = samples.exim_unknown_user(MID, "bob@example.net", NOW)
    assert _one(raw) == (MailEventKind.HARD_BOUNCE, "bob@example.net", MID)


def test_a_dsn_that_gave_up_on_a_full_mailbox_is_soft_though_it_says_failed() -> None:
    raw = samples.postfix_mailbox_full(MID, "cat@example.net", NOW)
    # flufl.bounce calls every failed recipient permanent; the 4.2.2 status says otherwise.
    _, permanent = all_failures(message_from_bytes(raw, policy=policy.compat32))
    assert permanent == {b"cat@example.net"}
    assert _one(raw) == (MailEventKind.SOFT_BOUNCE, "cat@example.net", MID)


def test_a_delay_warning_is_soft() -> None:
    raw = samples.delay_warning(MID, "cat@example.net", NOW)
    assert _one(raw) == (MailEventKind.SOFT_BOUNCE, "cat@example.net", MID)


def test_arf_complaints_name_the_reader_by_address_or_by_message_id_alone() -> None:
    yahoo = samples.yahoo_complaint(MID, "dan@yahoo.com", NOW)
    microsoft = samples.microsoft_complaint(MID, NOW)
    assert _one(yahoo) == (MailEventKind.COMPLAINT, "dan@yahoo.com", MID)
    assert _one(microsoft) == (MailEventKind.COMPLAINT, None, MID)


def test_a_not_spam_report_is_no_complaint() -> None:
    raw = samples.yahoo_complaint(MID, "dan@yahoo.com", NOW)
    assert (
        read_report(raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam"), now=NOW) == []
    )


def test_an_auto_reply_is_neither_bounce_nor_complaint() -> None:
    assert read_report(samples.auto_reply(MID, "fay@example.net", NOW), now=NOW) == []


def test_a_report_whose_parts_cannot_be_separated_is_unreadable() -> None:
    with pytest.raises(UnreadableReport, match="cannot be separated"):
        read_report(samples.broken_report("gus@example.net", NOW), now=NOW)


def test_a_complaint_naming_nobody_is_unreadable() -> None:
    raw = samples.microsoft_complaint(MID, NOW).replace(f"Message-ID: {MID}".encode(), b"")
    with pytest.raises(UnreadableReport, match="neither a recipient nor a Message-ID"):
        read_report(raw, now=NOW)


def test_a_report_without_its_own_message_id_is_keyed_by_its_bytes() -> None:
    raw = samples.postfix_unknown_user(MID, "ada@example.net", NOW)
    headless = b"\r\n".join(
        line for line in raw.split(b"\r\n") if not line.startswith(b"Message-Id: <2026")
    )
    first = read_report(headless, now=NOW)[0].event_key
    assert first == read_report(headless, now=NOW)[0].event_key
    assert first.startswith("sha256:")
    assert first != read_report(headless + b"\r\n", now=NOW)[0].event_key


def test_the_report_date_is_when_it_happened_but_never_later_than_now() -> None:
    earlier = NOW - timedelta(days=2, hours=3)
    raw = samples.postfix_mailbox_full(MID, "cat@example.net", earlier)
    assert read_report(raw, now=NOW)[0].occurred_at == earlier
    future = samples.postfix_mailbox_full(MID, "cat@example.net", NOW + timedelta(days=30))
    assert read_report(future, now=NOW)[0].occurred_at == NOW


def test_a_report_without_our_message_id_may_not_match_by_address() -> None:
    """Anyone can mail the bounce address; only a report quoting our Message-ID names a reader."""
    for raw in (
        samples.postfix_unknown_user("<someone.else@example.com>", "ada@example.net", NOW),
        samples.yahoo_complaint("<someone.else@example.com>", "ada@example.net", NOW),
    ):
        (event,) = read_report(raw, now=NOW)
        assert event.by_address is False
