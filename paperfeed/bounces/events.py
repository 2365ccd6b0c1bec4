"""Turn reported bounces and complaints into subscriber state, once each.

A report names the message (its Message-ID, which for a digest is
``<paperfeed.<install>.delivery.<id>@domain>``) and/or the recipient address. It is matched
to the delivery by Message-ID first (the id is parsed, and the stored Message-ID must be the
same, so another install's ids match nothing), then to the subscriber by address.

What it does to the subscriber:

* hard bounce: undeliverable (``bounced``) at once — if the address reported is still theirs;
* soft bounce: counted; soft bounces on ``limit`` different days within ``days`` make it a
  hard one (a full mailbox for a day is not a dead address, two weeks of it is);
* complaint: unsubscribed at once, pending mail cancelled (a reader who pressed "spam" must
  not get the next digest; Gmail's limit is 0.3% of mail).

Each report is stored (``mail_event``) under its source's own id, so a webhook retried by the
provider or a mailbox read twice changes nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from paperfeed.store.models import (
    Delivery,
    MailEvent,
    MailEventKind,
    Subscriber,
    SubscriberStatus,
)
from paperfeed.store.preferences import cancel_pending
from paperfeed.store.subscribers import unsubscribe

_DELIVERY_MESSAGE_ID = re.compile(r"<?paperfeed\.(?:[a-z0-9]+\.)?delivery\.(\d{1,18})@[^>\s]+>?")
_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class ReportedEvent:
    """One bounce or complaint as a source reported it, before matching.

    ``event_key`` is the source's id for the report (SES's feedbackId, a mail's Message-ID…);
    ``message_id`` the Message-ID of the mail it is about, ``email`` its recipient.
    ``by_address`` False: only the Message-ID may name the subscriber. The bounce mailbox
    reads mail anyone can send, and a forged report naming an address must not bounce or
    unsubscribe its reader; our Message-IDs carry an HMAC of the install's key, so a report
    quoting one really is about our mail. Signed webhooks may match by address.
    """

    source: str
    kind: MailEventKind
    event_key: str
    email: str | None = None
    message_id: str | None = None
    occurred_at: datetime | None = None
    detail: str = ""
    by_address: bool = True


@dataclass(frozen=True)
class BouncePolicy:
    soft_bounce_limit: int = 3
    soft_bounce_days: int = 14


@dataclass
class AppliedEvents:
    """What ``apply_reported`` did: reports stored, repeats ignored, state changed."""

    recorded: int = 0
    repeated: int = 0
    unmatched: int = 0
    bounced: list[int] = field(default_factory=list)
    unsubscribed: list[int] = field(default_factory=list)


def delivery_id_of(message_id: str | None) -> int | None:
    """The delivery id a paperfeed digest's Message-ID carries, or None."""
    if not message_id:
        return None
    match = _DELIVERY_MESSAGE_ID.search(message_id.strip().lower())
    return int(match.group(1)) if match else None


def _normal_id(message_id: str) -> str:
    text = message_id.strip()
    return text if text.startswith("<") else f"<{text}>"


def _match(session: Session, event: ReportedEvent) -> tuple[Subscriber | None, int | None]:
    delivery_id = delivery_id_of(event.message_id)
    if delivery_id is not None and event.message_id:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None and delivery.message_id == _normal_id(event.message_id):
            return session.get(Subscriber, delivery.subscriber_id), delivery_id
    if event.email and event.by_address:
        address = event.email.strip().lower()
        subscriber = session.exec(
            select(Subscriber).where(func.lower(col(Subscriber.email)) == address)
        ).first()
        if subscriber is not None:
            return subscriber, None
    return None, None


def _still_their_address(subscriber: Subscriber, event: ReportedEvent) -> bool:
    # A bounce for an address the reader has since changed says nothing about the new one.
    if not event.email or not subscriber.email:
        return True
    return event.email.strip().lower() == subscriber.email.lower()


def _soft_days(session: Session, subscriber_id: int, since: datetime) -> int:
    days = session.exec(
        select(MailEvent.occurred_at).where(
            col(MailEvent.subscriber_id) == subscriber_id,
            col(MailEvent.kind) == MailEventKind.SOFT_BOUNCE,
            col(MailEvent.occurred_at) >= since,
        )
    ).all()
    return len({day.date() for day in days})


def _receiving(subscriber: Subscriber) -> bool:
    return subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)


def apply_reported(
    session: Session,
    events: Iterable[ReportedEvent],
    *,
    now: datetime,
    policy: BouncePolicy | None = None,
) -> AppliedEvents:
    """Store each new report, and bounce or unsubscribe the subscribers they are about.

    Runs in the caller's transaction; a report already stored (same source and key) is
    counted in ``repeated`` and changes nothing.
    """
    policy = policy or BouncePolicy()
    applied = AppliedEvents()
    for event in events:
        key = event.event_key[:255]
        seen = session.exec(
            select(MailEvent.id).where(
                col(MailEvent.source) == event.source, col(MailEvent.event_key) == key
            )
        ).first()
        if seen is not None:
            applied.repeated += 1
            continue
        subscriber, delivery_id = _match(session, event)
        row = MailEvent(
            subscriber_id=subscriber.id if subscriber else None,
            delivery_id=delivery_id,
            source=event.source,
            kind=event.kind,
            event_key=key,
            email=(event.email or "")[:320] or None,
            detail=event.detail[:_DETAIL_CHARS],
            occurred_at=event.occurred_at or now,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # the same report arriving twice at once
            applied.repeated += 1
            continue
        applied.recorded += 1
        if subscriber is None or subscriber.id is None:
            applied.unmatched += 1
            continue
        _change_state(session, subscriber, subscriber.id, event, row, policy, applied, now)
    return applied


def _change_state(
    session: Session,
    subscriber: Subscriber,
    subscriber_id: int,
    event: ReportedEvent,
    row: MailEvent,
    policy: BouncePolicy,
    applied: AppliedEvents,
    now: datetime,
) -> None:
    if not _receiving(subscriber):
        return
    if event.kind == MailEventKind.COMPLAINT:
        unsubscribe(session, subscriber, now=now)
        cancel_pending(session, subscriber_id, reason="complaint", now=now)
        applied.unsubscribed.append(subscriber_id)
        return
    if not _still_their_address(subscriber, event):
        return
    if event.kind == MailEventKind.SOFT_BOUNCE:
        since = row.occurred_at - timedelta(days=policy.soft_bounce_days)
        if _soft_days(session, subscriber_id, since) < policy.soft_bounce_limit:
            return
    subscriber.status = SubscriberStatus.BOUNCED
    subscriber.updated_at = now
    session.add(subscriber)
    cancel_pending(session, subscriber_id, reason="bounced", now=now)
    applied.bounced.append(subscriber_id)


def policy_of(soft_bounce_limit: int, soft_bounce_days: int) -> BouncePolicy:
    return BouncePolicy(soft_bounce_limit=soft_bounce_limit, soft_bounce_days=soft_bounce_days)


__all__: Sequence[str] = (
    "AppliedEvents",
    "BouncePolicy",
    "MailEventKind",
    "ReportedEvent",
    "apply_reported",
    "delivery_id_of",
    "policy_of",
)
