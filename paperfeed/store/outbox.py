"""The outbox: claim deliveries to send, then mark each sent, failed, released or expired.

Claiming is the only place two workers can race. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets
any number of workers take disjoint batches. SQLite: the claim runs in a ``BEGIN IMMEDIATE``
transaction (see ``session_scope(write_lock=True)``), so claims are serialised.
A row left in ``sending`` by a crashed worker is claimable again after ``lease`` has passed:
that is the "in-flight batch" that may be sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from paperfeed.store.models import Delivery, DeliveryStatus

DEFAULT_LEASE = timedelta(minutes=10)


def claim_deliveries(
    session: Session,
    *,
    worker: str,
    now: datetime,
    limit: int = 100,
    lease: timedelta = DEFAULT_LEASE,
) -> Sequence[Delivery]:
    """Take up to ``limit`` pending (or abandoned in-flight) deliveries for ``worker``."""
    claimable = or_(
        col(Delivery.status) == DeliveryStatus.PENDING,
        and_(
            col(Delivery.status) == DeliveryStatus.SENDING, col(Delivery.claimed_at) < now - lease
        ),
    )
    query = select(Delivery).where(claimable).order_by(col(Delivery.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    deliveries = session.exec(query).all()
    for delivery in deliveries:
        delivery.status = DeliveryStatus.SENDING
        delivery.claimed_by = worker
        delivery.claimed_at = now
        delivery.attempts += 1
        delivery.updated_at = now
        session.add(delivery)
    session.flush()
    return deliveries


def mark_sent(session: Session, delivery_id: int, *, message_id: str, now: datetime) -> None:
    """Record that the server accepted the message; only after that, never before."""
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id)
        .values(status=DeliveryStatus.SENT, message_id=message_id, sent_at=now, updated_at=now)
    )


def release(session: Session, delivery_id: int, *, error: str, now: datetime) -> None:
    """Put a delivery back in the queue after a temporary failure (4xx, lost connection)."""
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id)
        .values(
            status=DeliveryStatus.PENDING,
            claimed_by=None,
            claimed_at=None,
            last_error=error[:2000],
            updated_at=now,
        )
    )


def mark_failed(session: Session, delivery_id: int, *, error: str, now: datetime) -> None:
    """Give up on a delivery for good (5xx, or too many attempts)."""
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id)
        .values(status=DeliveryStatus.FAILED, last_error=error[:2000], updated_at=now)
    )


def expire_stale(session: Session, *, now: datetime, max_lateness: timedelta) -> int:
    """Mark pending deliveries older than ``max_lateness`` expired, not sent."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.created_at) < now - max_lateness,
        )
        .values(status=DeliveryStatus.EXPIRED, last_error="past max lateness", updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
