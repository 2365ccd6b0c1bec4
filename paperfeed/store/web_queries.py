"""Reads and writes the web app and the feeds need: preferences, expiry, feed pools, editions.

Subscriber changes made by people on the web (preferences, re-subscribing, unsubscribing with
their pending mail cancelled, resetting their feed key, unconfirmed sign-ups expiring) and
the read-only queries behind feeds and pages. Knows nothing of HTTP, HTML or feed formats.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from paperfeed.store.editions import ListedPaper
from paperfeed.store.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionPaper,
    Listing,
    ListingDay,
    Paper,
    Subscriber,
    SubscriberStatus,
    new_feed_token,
)
from paperfeed.store.subscribers import check_preferences, check_timezone, unsubscribe


@dataclass(frozen=True, slots=True)
class EditionEntry:
    """One paper of one of a subscriber's editions, with the section, rank and reasons."""

    edition_id: int
    local_date: date
    created_at: datetime
    paper: Paper
    section: str
    rank: int
    reasons: tuple[str, ...]
    upvotes: int


def expire_pending(session: Session, *, now: datetime, older_than: timedelta) -> list[str]:
    """Delete sign-ups still unconfirmed ``older_than`` after they were made; their addresses."""
    expired = (
        col(Subscriber.status) == SubscriberStatus.PENDING,
        col(Subscriber.created_at) < now - older_than,
    )
    # Read first, then delete the same rows: the addresses let the caller remove their
    # confirmation mail from a file outbox (nothing of them may stay behind).
    addresses = [a for a in session.exec(select(Subscriber.email).where(*expired)).all() if a]
    if addresses:
        session.execute(delete(Subscriber).where(*expired))
    return addresses


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
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.subscriber_id) == subscriber.id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error="unsubscribed", updated_at=now)
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


def feed_pool_version(session: Session) -> tuple[datetime | None, int]:
    """When a daily list was last crawled, and how many have settled: changes with the pool."""
    newest, settled = session.execute(
        select(func.max(ListingDay.last_crawled_at), func.count(col(ListingDay.settled_at))).where(
            col(ListingDay.kind) == "daily"
        )
    ).one()
    return (_aware(newest) if newest is not None else None, int(settled))


def newest_settled_papers(session: Session, *, days: int, limit: int) -> list[ListedPaper]:
    """Papers of the newest ``days`` settled daily lists: newest day first, most upvoted first."""
    wanted = session.exec(
        select(col(ListingDay.listing_date), col(ListingDay.settled_at))
        .where(col(ListingDay.kind) == "daily", col(ListingDay.settled_at).is_not(None))
        .order_by(col(ListingDay.listing_date).desc())
        .limit(days)
    ).all()
    settled = {day: _aware(at) for day, at in wanted if at is not None}
    if not settled:
        return []
    rows = session.exec(
        select(Paper, Listing)
        .join(Listing, col(Listing.paper_id) == col(Paper.arxiv_id))
        .where(col(Listing.kind) == "daily", col(Listing.listing_date).in_(list(settled)))
        .order_by(
            col(Listing.listing_date).desc(),
            col(Listing.upvotes).desc(),
            col(Listing.rank),
            col(Paper.arxiv_id),
        )
        .limit(limit)
    ).all()
    return [
        ListedPaper(
            paper,
            listing.listing_date,
            settled[listing.listing_date],
            listing.upvotes,
            listing.comments,
        )
        for paper, listing in rows
    ]


def listing_days(session: Session, *, kind: str = "daily") -> Sequence[date]:
    """Every day with a stored list of ``kind``, newest first."""
    rows = session.exec(
        select(col(Listing.listing_date))
        .where(col(Listing.kind) == kind)
        .distinct()
        .order_by(col(Listing.listing_date).desc())
    ).all()
    return list(rows)


def edition_version(session: Session, subscriber_id: int) -> tuple[int, int, datetime | None]:
    """Newest edition id, how many, and when the newest was made: changes with a new edition."""
    newest, count, created = session.execute(
        select(
            func.max(col(Edition.id)), func.count(col(Edition.id)), func.max(Edition.created_at)
        ).where(col(Edition.subscriber_id) == subscriber_id)
    ).one()
    return (int(newest or 0), int(count), _aware(created) if created is not None else None)


def edition_entries(
    session: Session, subscriber_id: int, *, edition_id: int | None = None, limit: int = 100
) -> list[EditionEntry]:
    """A subscriber's edition papers, newest edition first, in rank order; one edition if given."""
    query = (
        select(Edition, EditionPaper, Paper)
        .join(EditionPaper, col(EditionPaper.edition_id) == col(Edition.id))
        .join(Paper, col(Paper.arxiv_id) == col(EditionPaper.paper_id))
        .where(col(Edition.subscriber_id) == subscriber_id)
        .order_by(col(Edition.local_date).desc(), col(Edition.id).desc(), col(EditionPaper.rank))
        .limit(limit)
    )
    if edition_id is not None:
        query = query.where(col(Edition.id) == edition_id)
    rows = session.exec(query).all()
    votes = _newest_upvotes(session, [paper.arxiv_id for _, _, paper in rows])
    return [
        EditionEntry(
            edition_id=edition.id or 0,
            local_date=edition.local_date,
            created_at=_aware(edition.created_at),
            paper=paper,
            section=chosen.section,
            rank=chosen.rank,
            reasons=tuple(chosen.reasons),
            upvotes=votes.get(paper.arxiv_id, 0),
        )
        for edition, chosen, paper in rows
    ]


def _newest_upvotes(session: Session, paper_ids: Sequence[str]) -> dict[str, int]:
    if not paper_ids:
        return {}
    rows = session.exec(
        select(col(Listing.paper_id), func.max(Listing.upvotes))
        .where(col(Listing.paper_id).in_(list(set(paper_ids))))
        .group_by(col(Listing.paper_id))
    ).all()
    return {paper_id: int(votes or 0) for paper_id, votes in rows}


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # aggregates bypass the column type on SQLite
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
