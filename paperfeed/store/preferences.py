"""What subscribers change on the web: preferences, re-subscribing, unsubscribing, their feed key.

Unsubscribing here also cancels their mail not yet handed over; a feed key is looked up in
constant time and can be reset, which ends the old feed URL. Knows nothing of HTTP or HTML.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from paperfeed.store.models import (
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    new_feed_token,
)
from paperfeed.store.subscribers import check_preferences, check_timezone, unsubscribe


def reactivate(session: Session, subscriber: Subscriber, *, now: datetime) -> Subscriber:
    """Make an unsubscribed or bounced subscriber active again (they confirmed by mail)."""
    if subscriber.status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED):
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = now
        subscriber.unsubscribed_at = None
        subscriber.updated_at = now
        session.add(subscriber)
    return subscriber


def unsubscribe_now(session: Session, subscriber: Subscriber, *, now: datetime) -> int:
    """Unsubscribe and expire their mail not yet handed over; returns deliveries cancelled."""
    unsubscribe(session, subscriber, now=now)
    # Editions composed before the click must not go out on the next send run.
    assert subscriber.id is not None
    return cancel_pending(session, subscriber.id, reason="unsubscribed", now=now)


def cancel_pending(session: Session, subscriber_id: int, *, reason: str, now: datetime) -> int:
    """Cancel the subscriber's deliveries not yet claimed, on every channel; returns how many."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.subscriber_id) == subscriber_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error=reason, updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def update_preferences(
    session: Session,
    subscriber: Subscriber,
    *,
    interests: str,
    timezone: str,
    send_hour: int,
    frequency: str,
    paused: bool,
    now: datetime,
) -> Subscriber:
    """Save what the preferences page sends, checked as ``create_subscriber`` checks it."""
    check_preferences(send_hour=send_hour, frequency=frequency, interests=interests)
    subscriber.interests = interests
    subscriber.timezone = check_timezone(timezone)
    subscriber.send_hour = send_hour
    subscriber.frequency = frequency
    subscriber.paused = paused
    subscriber.updated_at = now
    session.add(subscriber)
    return subscriber


def find_by_feed_token(session: Session, feed_token: str) -> Subscriber | None:
    """The subscriber whose personal-feed key this is; the final check is constant-time."""
    if not feed_token or len(feed_token) > 64:
        return None
    subscriber = session.exec(select(Subscriber).where(Subscriber.feed_token == feed_token)).first()
    # As for account tokens: the index matched, compare again in constant time.
    if subscriber is None or not hmac.compare_digest(subscriber.feed_token, feed_token):
        return None
    return subscriber


def rotate_feed_token(session: Session, subscriber: Subscriber, *, now: datetime) -> str:
    """Give the subscriber a new feed key; the old feed URL stops working. Returns the old."""
    old = subscriber.feed_token
    subscriber.feed_token = new_feed_token()
    subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    return old
