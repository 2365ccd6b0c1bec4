"""Subscribers: create, confirm, unsubscribe, find, remove; addresses and zones checked here."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, select

from paperfeed.errors import AlreadySubscribed, InputError
from paperfeed.store.models import Frequency, Subscriber, SubscriberStatus

MAX_INTERESTS_CHARS = 5_000
MAX_TIMEZONE_CHARS = 64  # the column's width; the longest IANA name has 32
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


def normalise_email(raw: str) -> str:
    """The canonical form of an address (lower case, punycode domain) or an InputError.

    Only addresses every mail path can carry are taken: a non-ASCII local part needs
    SMTPUTF8 end to end (the relay and the receiver), which nobody can promise, so it is
    refused; an internationalised domain is kept in its ASCII (IDNA) form, which any relay
    and any ``To:`` header carries.
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InputError(f"{raw[:80]!r} is not an email address we can mail: {exc}") from exc
    # Local parts are case-sensitive in theory and never in practice; one address, one row.
    ascii_address = checked.ascii_email
    assert ascii_address is not None  # always set when SMTPUTF8 is not allowed
    return ascii_address.lower()


def lookup_address(raw: str) -> str:
    """The key to find a stored address by: ``normalise_email``'s, or for a row stored before
    sign-ups refused non-ASCII local parts, that address in the form it was stored in."""
    try:
        return normalise_email(raw)
    except InputError:
        try:
            checked = validate_email(raw.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            raise InputError(f"{raw[:80]!r} is not an email address: {exc}") from exc
        return checked.normalized.lower()


def check_timezone(name: str) -> str:
    """The IANA zone name if Python knows it, else an InputError naming an example."""
    shown = name if len(name) <= 40 else name[:39] + "…"
    problem = InputError(
        f"{shown!r} is not an IANA time zone; use a name like Europe/Berlin or UTC"
    )
    # ZoneInfo reads files: a folder ("America") or an overlong name raises OSError, and a
    # path-like name must never reach it, so only the shape of a zone name gets that far.
    if len(name) > MAX_TIMEZONE_CHARS or not _ZONE_NAME.fullmatch(name):
        raise problem
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise problem from exc
    return name


def link_state(subscriber: Subscriber) -> str:
    """A digest of what a confirmation link may act on: it changes whenever one is used.

    A confirmation link carries it (signed), so confirming, re-subscribing or applying new
    interests (each changes the status, the preferences or ``updated_at``) spends every link
    made before, as does an unsubscribe or a token reset. No column is needed for "used".
    """
    stamps = (subscriber.confirmed_at, subscriber.unsubscribed_at, subscriber.updated_at)
    parts = [
        subscriber.token,
        str(subscriber.status),
        *(str(int(stamp.timestamp())) if stamp is not None else "-" for stamp in stamps),
        subscriber.interests,
        subscriber.timezone,
        str(subscriber.send_hour),
        str(subscriber.frequency),
        str(subscriber.paused),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


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
