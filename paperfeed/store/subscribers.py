"""Subscribers: create, confirm, unsubscribe, find, remove; addresses and zones checked here."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, select

from paperfeed.errors import AlreadySubscribed, InputError
from paperfeed.store.models import Frequency, Subscriber, SubscriberStatus

MAX_INTERESTS_CHARS = 5_000


def normalise_email(raw: str) -> str:
    """The canonical form of an address (lower case, IDNA domain) or an InputError."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(f"{raw!r} is not an email address: {exc}") from exc
    # Local parts are case-sensitive in theory and never in practice; one address, one row.
    return checked.normalized.lower()


def check_timezone(name: str) -> str:
    """The IANA zone name if Python knows it, else an InputError naming an example."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"{name!r} is not an IANA time zone; use a name like Europe/Berlin or UTC"
        ) from exc
    return name


def new_token() -> str:
    """An unguessable link token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def check_preferences(*, send_hour: int, frequency: str, interests: str) -> None:
    """Refuse a send hour, frequency or interest text the store cannot keep (InputError)."""
    if not 0 <= send_hour <= 23:
        raise InputError(f"send hour {send_hour} is not between 0 and 23")
    if frequency not in set(Frequency):
        raise InputError(f"frequency {frequency!r} is not one of daily, weekly, off")
    if len(interests) > MAX_INTERESTS_CHARS:
        raise InputError(
            f"interests are {len(interests)} characters; the limit is {MAX_INTERESTS_CHARS}"
        )


def create_subscriber(
    session: Session,
    *,
    email: str,
    interests: str,
    now: datetime,
    timezone: str = "UTC",
    send_hour: int = 7,
    frequency: str = Frequency.DAILY,
    max_papers: int = 10,
    confirmed: bool = False,
    opt_in_ip: str | None = None,
) -> Subscriber:
    """Add a subscriber, pending until confirmed unless ``confirmed``; refuses a known address."""
    address = normalise_email(email)
    check_preferences(send_hour=send_hour, frequency=frequency, interests=interests)
    if find_by_email(session, address) is not None:
        raise AlreadySubscribed(f"{address} is subscribed already")
    subscriber = Subscriber(
        email=address,
        interests=interests,
        timezone=check_timezone(timezone),
        send_hour=send_hour,
        frequency=frequency,
        max_papers=max_papers,
        token=new_token(),
        status=SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING,
        opt_in_ip=opt_in_ip,
        created_at=now,
        confirmed_at=now if confirmed else None,
        updated_at=now,
    )
    session.add(subscriber)
    session.flush()
    return subscriber


def find_by_email(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (normalised) address, if any."""
    return session.exec(select(Subscriber).where(Subscriber.email == email)).first()


def find_by_token(session: Session, token: str) -> Subscriber | None:
    """The subscriber whose link token this is; the final check is constant-time."""
    if not token or len(token) > 64:
        return None
    subscriber = session.exec(select(Subscriber).where(Subscriber.token == token)).first()
    # The index lookup already matched; compare again in constant time so that no later
    # refactor (a prefix index, a cache) turns this into a timing oracle.
    if subscriber is None or not hmac.compare_digest(subscriber.token, token):
        return None
    return subscriber


def confirm(session: Session, subscriber: Subscriber, *, now: datetime) -> Subscriber:
    """Make a pending subscriber active; confirming twice changes nothing."""
    if subscriber.status == SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = now
        subscriber.updated_at = now
        session.add(subscriber)
    return subscriber


def unsubscribe(session: Session, subscriber: Subscriber, *, now: datetime) -> Subscriber:
    """Stop all mail to this subscriber from the next send on; idempotent."""
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = now
        subscriber.updated_at = now
        session.add(subscriber)
    return subscriber


def list_subscribers(session: Session, *, status: str | None = None) -> Sequence[Subscriber]:
    """Subscribers in sign-up order, optionally only those with ``status``."""
    query = select(Subscriber).order_by(col(Subscriber.id))
    if status is not None:
        query = query.where(Subscriber.status == status)
    return session.exec(query).all()


def remove_subscriber(session: Session, subscriber: Subscriber) -> None:
    """Delete the subscriber and, through the foreign keys, their editions and ledger."""
    session.delete(subscriber)
    session.flush()


def rotate_token(session: Session, subscriber: Subscriber, *, now: datetime) -> Subscriber:
    """Give the subscriber a new link token; every link made with the old one stops working.

    Preferences, unsubscribe and edition links carry the token, and confirmation links a
    fingerprint of it, so all of them are invalidated at once (e.g. after a leaked mail). The
    personal feed has its own key (``feed_token``), which this leaves alone.
    """
    subscriber.token = new_token()
    subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    return subscriber
