"""The outbox ledger: claim a batch of one channel kind, then mark many deliveries at once.

Claiming is the only place two workers can race. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets
any number of workers take disjoint batches. SQLite: the claim runs in a ``BEGIN IMMEDIATE``
transaction (``session_scope(write_lock=True)``), so claims are serialised. Claimable are
pending rows of the kind whose ``not_before`` has passed (a service asked us to wait), and
rows left in ``sending`` longer than the lease: a crashed worker's in-flight batch, which is
the one that may be sent twice. Each operation is a statement or an executemany, so the
ledger costs little next to rendering and the network. Knows nothing of any channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session

from paperfeed.store.models import (
    ChannelAddress,
    ChannelAddressStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)

DEFAULT_LEASE = timedelta(minutes=10)
CHUNK = 500
_DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
_SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[attr-defined]
_ADDRESS: Table = ChannelAddress.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery as a sender sees it: which edition, for whom, where, how often tried."""

    id: int
    edition_id: int
    subscriber_id: int
    attempts: int
    created_at: datetime
    channel: str = "email"
    address_id: int | None = None


_CLAIM_COLUMNS = (
    _DELIVERY.c.id,
    _DELIVERY.c.edition_id,
    _DELIVERY.c.subscriber_id,
    _DELIVERY.c.attempts,
    _DELIVERY.c.created_at,
    _DELIVERY.c.channel,
    _DELIVERY.c.address_id,
)


def _claimable(kind: str | None, now: datetime, lease: timedelta) -> ColumnElement[bool]:
    ready = or_(
        and_(
            _DELIVERY.c.status == DeliveryStatus.PENDING,
            or_(_DELIVERY.c.not_before.is_(None), _DELIVERY.c.not_before <= now),
        ),
        and_(
            _DELIVERY.c.status == DeliveryStatus.SENDING,
            _DELIVERY.c.claimed_at < now - lease,
        ),
    )
    return ready if kind is None else and_(_DELIVERY.c.kind == kind, ready)


def _claimed(row: Row[Any], *, counting: int) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=int(row.id),
        edition_id=int(row.edition_id),
        subscriber_id=int(row.subscriber_id),
        attempts=int(row.attempts) + counting,
        created_at=row.created_at,
        channel=str(row.channel),
        address_id=None if row.address_id is None else int(row.address_id),
    )


def _due_queries(
    kind: str,
    now: datetime,
    lease: timedelta,
    after_id: int,
    subscriber_id: int | None,
    limit: int,
) -> tuple[Select[Any], Select[Any]]:
    """The oldest ``limit`` pending rows of ``kind`` above ``after_id``, and the oldest
    ``limit`` whose lease lapsed: a claim takes the oldest ``limit`` of the two.

    Two queries, not one with OR: each names one status, so the partial indexes on
    (kind, id) of pending and of sending rows answer it in id order, stopping after
    ``limit`` rows, and never see the sent rows of earlier days. Under one OR, SQLite (and
    PostgreSQL whose statistics predate compose) read every pending row and sorted them for
    each batch: O(outbox) per batch, O(n^2) for a pass. The status is a literal, not a
    parameter: the planners match a partial index's WHERE against the query's text.
    """
    pending = and_(
        _DELIVERY.c.status == literal_column(f"'{DeliveryStatus.PENDING.value}'"),
        or_(_DELIVERY.c.not_before.is_(None), _DELIVERY.c.not_before <= now),
    )
    lapsed = and_(
        _DELIVERY.c.status == literal_column(f"'{DeliveryStatus.SENDING.value}'"),
        _DELIVERY.c.claimed_at < now - lease,
    )
    queries = []
    for ready in (pending, lapsed):
        query = sa_select(*_CLAIM_COLUMNS).where(
            _DELIVERY.c.kind == kind, ready, _DELIVERY.c.id > after_id
        )
        if subscriber_id is not None:
            query = query.where(_DELIVERY.c.subscriber_id == subscriber_id)
        queries.append(query.order_by(_DELIVERY.c.id).limit(limit))
    return queries[0], queries[1]


def _due_rows(
    session: Session,
    *,
    kind: str,
    now: datetime,
    lease: timedelta,
    after_id: int,
    subscriber_id: int | None,
    limit: int,
    lock: bool,
) -> list[Row[Any]]:
    """What a claim takes (``lock``: rows other workers hold are skipped, the rest locked)."""
    rows: list[Row[Any]] = []
    for query in _due_queries(kind, now, lease, after_id, subscriber_id, limit):
        if lock and session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows.extend(session.execute(query).all())
    # Rows locked here but not taken are free again when the claim commits.
    return sorted(rows, key=lambda r: int(r.id))[:limit]


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def claim_batch(
    session: Session,
    *,
    kind: str,
    worker: str,
    now: datetime,
    limit: int,
    after_id: int = 0,
    subscriber_id: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` deliveries of ``kind`` with ids above ``after_id`` (oldest first).

    ``after_id`` lets one pass move forward, so a row it released is retried by the next pass,
    not again at once. ``attempts`` in the result counts this claim.
    """
    rows = _due_rows(
        session,
        kind=kind,
        now=now,
        lease=lease,
        after_id=after_id,
        subscriber_id=subscriber_id,
        limit=limit,
        lock=True,
    )
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    session.execute(
        update(_DELIVERY)
        .where(_DELIVERY.c.id.in_(ids))
        .values(
            status=DeliveryStatus.SENDING,
            claimed_by=worker,
            claimed_at=now,
            attempts=_DELIVERY.c.attempts + 1,
            updated_at=now,
        )
    )
    return [_claimed(r, counting=1) for r in rows]


def due_deliveries(
    session: Session,
    *,
    kind: str,
    now: datetime,
    limit: int,
    after_id: int = 0,
    subscriber_id: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> list[ClaimedDelivery]:
    """The deliveries ``claim_batch`` would take, read without claiming (for dry runs)."""
    rows = _due_rows(
        session,
        kind=kind,
        now=now,
        lease=lease,
        after_id=after_id,
        subscriber_id=subscriber_id,
        limit=limit,
        lock=False,
    )
    return [_claimed(r, counting=0) for r in rows]


def count_due(
    session: Session,
    *,
    now: datetime,
    kind: str | None = None,
    subscriber_id: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """How many deliveries (of ``kind``, or of every kind) are claimable now."""
    query = sa_select(func.count()).select_from(_DELIVERY).where(_claimable(kind, now, lease))
    if subscriber_id is not None:
        query = query.where(_DELIVERY.c.subscriber_id == subscriber_id)
    return int(session.execute(query).scalar_one())


def expire_stale(
    session: Session, *, now: datetime, max_lateness: timedelta, kind: str | None = None
) -> int:
    """Mark pending deliveries (of ``kind``) older than ``max_lateness`` expired, not sent."""
    query = update(_DELIVERY).where(
        _DELIVERY.c.status == DeliveryStatus.PENDING,
        _DELIVERY.c.created_at < now - max_lateness,
    )
    if kind is not None:
        query = query.where(_DELIVERY.c.kind == kind)
    result = session.execute(
        query.values(status=DeliveryStatus.EXPIRED, last_error="past max lateness", updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_sent_many(
    session: Session, references: Mapping[int, str | None], *, now: datetime
) -> None:
    """Mark deliveries sent with what the service calls them (a Message-ID), after it took each."""
    if not references:
        return
    session.execute(
        update(_DELIVERY)
        .where(_DELIVERY.c.id == bindparam("b_id"))
        .values(
            status=DeliveryStatus.SENT,
            message_id=bindparam("b_message_id"),
            sent_at=now,
            not_before=None,
            updated_at=now,
        ),
        [{"b_id": i, "b_message_id": m} for i, m in references.items()],
    )


def release_many(
    session: Session,
    errors: Mapping[int, str],
    *,
    now: datetime,
    tried: bool = True,
    not_before: Mapping[int, datetime] | None = None,
) -> None:
    """Put deliveries back in the queue.

    ``tried=False`` gives back the attempt the claim took (it never reached the service);
    ``not_before`` holds a delivery back until then (the service said when to come back).
    """
    if not errors:
        return
    values: dict[str, object] = {
        "status": DeliveryStatus.PENDING,
        "claimed_by": None,
        "claimed_at": None,
        "last_error": bindparam("b_error"),
        "not_before": bindparam("b_not_before"),
        "updated_at": now,
    }
    if not tried:
        values["attempts"] = _DELIVERY.c.attempts - 1
    held = not_before or {}
    session.execute(
        update(_DELIVERY).where(_DELIVERY.c.id == bindparam("b_id")).values(**values),
        [{"b_id": i, "b_error": e[:2000], "b_not_before": held.get(i)} for i, e in errors.items()],
    )


def settle_many(
    session: Session, errors: Mapping[int, str], *, status: DeliveryStatus, now: datetime
) -> None:
    """Close deliveries for good as ``failed``, ``expired`` or ``cancelled``, with the reason."""
    if not errors:
        return
    session.execute(
        update(_DELIVERY)
        .where(_DELIVERY.c.id == bindparam("b_id"))
        .values(status=status, last_error=bindparam("b_error"), updated_at=now),
        [{"b_id": i, "b_error": e[:2000]} for i, e in errors.items()],
    )


def mark_bounced(session: Session, subscriber_ids: Iterable[int], *, now: datetime) -> int:
    """Stop subscribers whose email address the server refused; returns how many changed."""
    ids = sorted(set(subscriber_ids))
    changed = 0
    for chunk in _chunks(ids):
        result = session.execute(
            update(_SUBSCRIBER)
            .where(
                _SUBSCRIBER.c.id.in_(chunk),
                _SUBSCRIBER.c.status != SubscriberStatus.BOUNCED,
            )
            .values(status=SubscriberStatus.BOUNCED, updated_at=now)
        )
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


def stop_addresses(session: Session, errors: Mapping[int, str], *, now: datetime) -> int:
    """Mark chat addresses undeliverable and cancel their pending deliveries.

    ``errors`` maps address ids to the service's words. Returns how many pending deliveries
    were cancelled; the subscriber's other addresses (and email) go on receiving.
    """
    if not errors:
        return 0
    session.execute(
        update(_ADDRESS)
        .where(_ADDRESS.c.id == bindparam("b_id"))
        .values(
            status=ChannelAddressStatus.UNDELIVERABLE,
            last_error=bindparam("b_error"),
            updated_at=now,
        ),
        [{"b_id": i, "b_error": e[:2000]} for i, e in errors.items()],
    )
    cancelled = 0
    for chunk in _chunks(sorted(errors)):
        result = session.execute(
            update(_DELIVERY)
            .where(
                _DELIVERY.c.address_id.in_(chunk),
                _DELIVERY.c.status == DeliveryStatus.PENDING,
            )
            .values(
                status=DeliveryStatus.CANCELLED,
                last_error="the address is undeliverable",
                updated_at=now,
            )
        )
        cancelled += int(result.rowcount)  # type: ignore[attr-defined]
    return cancelled


def renew_claims(session: Session, ids: Sequence[int], *, worker: str, now: datetime) -> int:
    """Refresh the claim on those of ``ids`` that ``worker`` still holds (a heartbeat).

    Only rows still ``sending`` under this worker's name are touched: a delivery marked or
    released meanwhile, or taken over by another worker after a lapsed lease, stays as it is.
    Returns how many claims were renewed.
    """
    renewed = 0
    for chunk in _chunks(sorted(ids)):
        result = session.execute(
            update(_DELIVERY)
            .where(
                _DELIVERY.c.id.in_(chunk),
                _DELIVERY.c.status == DeliveryStatus.SENDING,
                _DELIVERY.c.claimed_by == worker,
            )
            .values(claimed_at=now)
        )
        renewed += int(result.rowcount)  # type: ignore[attr-defined]
    return renewed


def claim_holders(session: Session) -> list[str]:
    """The workers that hold claims now (deliveries ``sending``), each named once."""
    query = (
        sa_select(_DELIVERY.c.claimed_by)
        .where(_DELIVERY.c.status == DeliveryStatus.SENDING, _DELIVERY.c.claimed_by.is_not(None))
        .distinct()
    )
    return sorted(str(name) for name in session.execute(query).scalars())


def release_claims_of(session: Session, workers: Iterable[str], *, now: datetime) -> int:
    """Put the deliveries claimed by ``workers`` (known dead) back in the queue at once.

    Their attempt stays counted: the dead worker may have handed some of them over.
    """
    names = sorted(set(workers))
    if not names:
        return 0
    result = session.execute(
        update(_DELIVERY)
        .where(_DELIVERY.c.status == DeliveryStatus.SENDING, _DELIVERY.c.claimed_by.in_(names))
        .values(
            status=DeliveryStatus.PENDING,
            claimed_by=None,
            claimed_at=None,
            last_error="its sender died",
            updated_at=now,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
