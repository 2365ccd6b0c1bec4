"""Reported bounces and complaints become subscriber state once, and only for whom they name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.bounces.events import (
    AppliedEvents,
    BouncePolicy,
    ReportedEvent,
    apply_reported,
    delivery_id_of,
)
from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, MailEvent, MailEventKind, Subscriber
from tests.bounces.bounce_samples import message_id_of, sent_digest, status_of
from tests.mailer.outbox_samples import EDITION_DAY
from tests.outbox.channel_samples import compose

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _apply(
    engine: Engine, *events: ReportedEvent, policy: BouncePolicy | None = None
) -> AppliedEvents:
    with session_scope(engine) as session:
        return apply_reported(session, events, now=NOW, policy=policy)


def test_a_hard_bounce_matched_by_message_id_bounces_that_reader_only(engine: Engine) -> None:
    ada, mid = sent_digest(engine, "ada@example.org", at=NOW)
    bob, _ = sent_digest(engine, "bob@example.org", at=NOW)
    applied = _apply(
        engine, ReportedEvent("ses", MailEventKind.HARD_BOUNCE, "fb-1", message_id=mid)
    )
    assert applied.bounced == [ada]
    assert (status_of(engine, ada), status_of(engine, bob)) == ("bounced", "active")
    with session_scope(engine) as session:
        event = session.exec(select(MailEvent)).one()
        assert (event.subscriber_id, event.delivery_id) == (ada, delivery_id_of(mid))


def test_a_report_repeated_by_the_provider_changes_nothing_twice(engine: Engine) -> None:
    ada, mid = sent_digest(engine, "ada@example.org", at=NOW)
    event = ReportedEvent("postmark", MailEventKind.COMPLAINT, "pm-9", message_id=mid)
    first = _apply(engine, event)
    second = _apply(engine, event)
    assert (first.recorded, first.unsubscribed) == (1, [ada])
    assert (second.recorded, second.repeated, second.unsubscribed) == (0, 1, [])
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(MailEvent)).one() == 1


def test_a_complaint_unsubscribes_and_cancels_pending_mail(engine: Engine) -> None:
    ada, _ = sent_digest(engine, "ada@example.org", at=NOW)
    compose(engine, [ada], day=EDITION_DAY + timedelta(days=1))
    _apply(engine, ReportedEvent("imap", MailEventKind.COMPLAINT, "arf-1", email="ADA@example.org"))
    assert status_of(engine, ada) == "unsubscribed"
    with session_scope(engine) as session:
        statuses = sorted(d.status for d in session.exec(select(Delivery)).all())
    assert statuses == ["cancelled", "sent"]


def test_soft_bounces_count_over_days_not_reports(engine: Engine) -> None:
    ada, mid = sent_digest(engine, "ada@example.org", at=NOW)
    policy = BouncePolicy(soft_bounce_limit=3, soft_bounce_days=14)
    day = timedelta(days=1)
    # Three reports on one day are one day of a full mailbox.
    for n in range(3):
        event = ReportedEvent(
            "imap", MailEventKind.SOFT_BOUNCE, f"s-{n}", message_id=mid, occurred_at=NOW
        )
        _apply(engine, event, policy=policy)
    assert status_of(engine, ada) == "active"
    # A day long ago is outside the window.
    old = ReportedEvent(
        "imap",
        MailEventKind.SOFT_BOUNCE,
        "s-old",
        email="ada@example.org",
        occurred_at=NOW - 30 * day,
    )
    second = ReportedEvent(
        "imap", MailEventKind.SOFT_BOUNCE, "s-2d", email="ada@example.org", occurred_at=NOW + day
    )
    _apply(engine, old, second, policy=policy)
    assert status_of(engine, ada) == "active"
    third = ReportedEvent(
        "imap",
        MailEventKind.SOFT_BOUNCE,
        "s-3d",
        email="ada@example.org",
        occurred_at=NOW + 2 * day,
    )
    assert _apply(engine, third, policy=policy).bounced == [ada]
    assert status_of(engine, ada) == "bounced"


def test_another_installs_message_id_and_strangers_match_nobody(engine: Engine) -> None:
    ada, mid = sent_digest(engine, "ada@example.org", at=NOW)
    forged = mid.replace("k3xtest", "otherinstall")
    applied = _apply(
        engine,
        ReportedEvent("ses", MailEventKind.HARD_BOUNCE, "x-1", message_id=forged),
        ReportedEvent("ses", MailEventKind.HARD_BOUNCE, "x-2", email="nobody@example.org"),
    )
    assert (applied.recorded, applied.unmatched, applied.bounced) == (2, 2, [])
    assert status_of(engine, ada) == "active"


def test_a_bounce_for_an_old_address_leaves_the_new_one_alone(engine: Engine) -> None:
    ada, mid = sent_digest(engine, "ada@example.org", at=NOW)
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, ada)
        assert subscriber is not None
        subscriber.email = "ada@new.example.org"
        session.add(subscriber)
    _apply(
        engine,
        ReportedEvent(
            "ses", MailEventKind.HARD_BOUNCE, "fb-2", email="ada@example.org", message_id=mid
        ),
    )
    assert status_of(engine, ada) == "active"


def test_delivery_ids_are_read_from_digest_message_ids_only() -> None:
    assert delivery_id_of(message_id_of(42)) == 42
    assert delivery_id_of("paperfeed.delivery.7@example.org") == 7
    assert delivery_id_of("<abc.123@mail.example.org>") is None
    assert delivery_id_of(None) is None


def test_a_report_that_may_match_only_by_message_id_ignores_the_address(engine: Engine) -> None:
    """The bounce mailbox takes mail from anyone: a forged DSN naming only an address."""
    ada, mid = sent_digest(engine, "ada@example.org", at=NOW)
    forged = ReportedEvent(
        "imap", MailEventKind.COMPLAINT, "f-1", email="ada@example.org", by_address=False
    )
    applied = _apply(engine, forged)
    assert (applied.unmatched, applied.unsubscribed, status_of(engine, ada)) == (1, [], "active")
    real = ReportedEvent(
        "imap",
        MailEventKind.COMPLAINT,
        "f-2",
        email="ada@example.org",
        message_id=mid,
        by_address=False,
    )
    assert _apply(engine, real).unsubscribed == [ada]
