"""The whole data model as SQLModel tables.

Papers and their daily listings come from the crawler; subscribers, editions, the never-twice
ledger (``SentPaper``) and the outbox (``Delivery``) come from the app. Times are UTC.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlmodel import Field, SQLModel

# Re-exported: callers name them as columns of the model they belong to.
from paperfeed.store.choices import Frequency as Frequency
from paperfeed.store.choices import SubscriberStatus as SubscriberStatus
from paperfeed.store.types import UTCDateTime


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # the subscriber stopped receiving between compose and send


class ChannelAddressStatus(StrEnum):
    ACTIVE = "active"
    UNDELIVERABLE = "undeliverable"  # the service refused it for good (404, revoked webhook)


class CrawlStatus(StrEnum):
    OK = "ok"
    EMPTY = "empty"
    NOT_PUBLISHED = "not_published"
    ERROR = "error"


class Paper(SQLModel, table=True):
    """A paper, keyed by its arXiv id, with everything Hugging Face tells about it."""

    arxiv_id: str = Field(primary_key=True, max_length=32)
    title: str = Field(sa_type=Text)
    abstract: str = Field(default="", sa_type=Text)
    authors: list[str] = Field(default_factory=list, sa_type=JSON)
    published_at: datetime | None = _ts(nullable=True)
    github_repo: str | None = Field(default=None, max_length=500)
    github_stars: int | None = None
    project_page: str | None = Field(default=None, max_length=1000)
    ai_summary: str | None = Field(default=None, sa_type=Text)
    ai_keywords: list[str] = Field(default_factory=list, sa_type=JSON)
    thumbnail: str | None = Field(default=None, max_length=1000)
    organization: str | None = Field(default=None, max_length=200)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    first_seen_at: datetime = _ts()
    updated_at: datetime = _ts()
    # Whether ``TermCounts`` counts this paper's current text (false when new, or when a
    # re-crawl changed the text: ``CountedText`` then holds the text that was counted).
    stats_counted: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": false()}
    )
    # The ``TermCounts.revision`` that first counted this paper (None: never): statistics
    # loaded at revision R hold exactly the papers counted at R or before.
    counted_in: int | None = None


class TermCounts(SQLModel, table=True):
    """Term statistics over every stored paper, as one row: ranking loads it instead of
    reading every paper. Updated in the transaction that stores papers (``corpus``)."""

    id: int = Field(default=1, primary_key=True)
    # The tokeniser version and hash-bucket count the counts were made with: another version
    # means rebuilding from every paper.
    features_version: int
    bucket_bits: int
    n_docs: int = 0
    field_terms: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    # Document frequency per hash bucket: zlib-compressed little-endian uint32.
    df: bytes = Field(sa_type=LargeBinary)
    # Moves on every write, so a process holding the counts reloads them only when it moved.
    revision: int = 0
    updated_at: datetime = _ts()


class CountedText(SQLModel, table=True):
    """The text a paper was counted with, kept from a re-crawl that changed it until the
    statistics take it out and count the new text instead."""

    paper_id: str = Field(
        foreign_key="paper.arxiv_id", primary_key=True, max_length=32, ondelete="CASCADE"
    )
    title: str = Field(sa_type=Text)
    abstract: str = Field(default="", sa_type=Text)
    ai_summary: str | None = Field(default=None, sa_type=Text)
    ai_keywords: list[str] = Field(default_factory=list, sa_type=JSON)


class Listing(SQLModel, table=True):
    """A paper's place on one day's list; one row per (kind, day, paper)."""

    __table_args__ = (
        UniqueConstraint("kind", "listing_date", "paper_id", name="uq_listing_kind_day_paper"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="daily", max_length=16)
    listing_date: date = Field(index=True)
    paper_id: str = Field(foreign_key="paper.arxiv_id", max_length=32, index=True)
    rank: int
    upvotes: int = 0
    comments: int = 0
    first_seen_at: datetime = _ts()
    last_seen_at: datetime = _ts()


class ListingDay(SQLModel, table=True):
    """What we know of one day's list: last crawl outcome, and when it became settled."""

    __table_args__ = (UniqueConstraint("kind", "listing_date", name="uq_listing_day"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="daily", max_length=16)
    listing_date: date = Field(index=True)
    status: str = Field(max_length=16)
    source: str | None = Field(default=None, max_length=16)
    paper_count: int = 0
    last_crawled_at: datetime = _ts()
    settled_at: datetime | None = _ts(nullable=True)


class CrawlRun(SQLModel, table=True):
    """One attempt at one day: which source served, how many papers, and what went wrong."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="daily", max_length=16)
    listing_date: date = Field(index=True)
    started_at: datetime = _ts(index=True)
    finished_at: datetime | None = _ts(nullable=True)
    source: str | None = Field(default=None, max_length=16)
    papers_found: int = 0
    papers_claimed: int | None = None
    papers_new: int = 0
    skipped: int = 0
    status: str = Field(max_length=16)
    error: str | None = Field(default=None, sa_type=Text)


def new_feed_token() -> str:
    """An unguessable personal-feed key: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class Subscriber(SQLModel, table=True):
    """Someone who asked for digests; ``token`` keys their pages, ``feed_token`` their feed.

    A team digest is a subscriber too: a ``name`` the operator gave it, no email, and chat
    addresses (``ChannelAddress``) as its only way to receive. ``email_digest`` False means a
    person reads their digest only through their chat addresses.
    """

    id: int | None = Field(default=None, primary_key=True)
    email: str | None = Field(default=None, max_length=320, unique=True, nullable=True)
    name: str | None = Field(default=None, max_length=64, unique=True, nullable=True)
    email_digest: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    status: str = Field(default=SubscriberStatus.PENDING, max_length=16, index=True)
    interests: str = Field(default="", sa_type=Text)
    timezone: str = Field(default="UTC", max_length=64)
    send_hour: int = Field(default=7, ge=0, le=23)
    frequency: str = Field(default=Frequency.DAILY, max_length=16)
    max_papers: int = Field(default=10, ge=1, le=100)
    paused: bool = False
    token: str = Field(max_length=64, unique=True)
    # Read-only: it opens the personal feed and nothing else, because feed URLs end up in
    # cloud readers and shared OPML files. The column default serves bulk inserts too.
    feed_token: str = Field(
        default_factory=new_feed_token,
        max_length=64,
        unique=True,
        index=True,
        sa_column_kwargs={"default": new_feed_token},
    )
    opt_in_ip: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    confirmed_at: datetime | None = _ts(nullable=True)
    unsubscribed_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class Edition(SQLModel, table=True):
    """The papers chosen for one subscriber on one of their local dates."""

    __table_args__ = (
        UniqueConstraint("subscriber_id", "local_date", name="uq_edition_subscriber_date"),
        # What the ledger's key to its edition points at (``SentPaper``); it also serves
        # every lookup by subscriber, as the date key does.
        Index("uq_edition_subscriber_id", "subscriber_id", "id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE")
    local_date: date
    created_at: datetime = _ts()


class EditionPaper(SQLModel, table=True):
    """One paper of an edition, in the ``matched`` or ``trending`` section, with its reasons."""

    __table_args__ = (UniqueConstraint("edition_id", "paper_id", name="uq_edition_paper"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(foreign_key="edition.id", ondelete="CASCADE")
    paper_id: str = Field(foreign_key="paper.arxiv_id", max_length=32)
    section: str = Field(default="matched", max_length=16)
    rank: int
    score: float = 0.0
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)


class SentPaper(SQLModel, table=True):
    """The never-twice ledger: a (subscriber, paper) pair exists at most once, ever."""

    __table_args__ = (
        # One key to the edition that sent the paper, by (subscriber, edition): a row's
        # subscriber is its edition's (and through it a real subscriber's), and the cascade
        # when an edition goes finds its rows through the primary key. A key on edition_id
        # alone would scan the whole ledger for every edition a deleted reader had
        # (migration 0009), and two keys cost compose two checks a row instead of one.
        ForeignKeyConstraint(
            ["subscriber_id", "edition_id"],
            ["edition.subscriber_id", "edition.id"],
            name="fk_sentpaper_edition",
            ondelete="CASCADE",
        ),
    )

    subscriber_id: int = Field(primary_key=True)
    paper_id: str = Field(foreign_key="paper.arxiv_id", primary_key=True, max_length=32)
    edition_id: int
    created_at: datetime = _ts()


class ChannelAddress(SQLModel, table=True):
    """A chat or push address a subscriber (or a team) receives digests at.

    ``url`` is an apprise URL and holds the service's secret (a webhook key, a bot token):
    it is never shown after entry (``shown`` is the redacted form) and never logged.
    """

    __tablename__ = "channel_address"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="chat", max_length=16)
    service: str = Field(max_length=32)
    url: str = Field(sa_type=Text)
    shown: str = Field(max_length=200)
    status: str = Field(default=ChannelAddressStatus.ACTIVE, max_length=16)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Delivery(SQLModel, table=True):
    """The outbox: one row per edition and channel, claimed, sent, then marked sent.

    ``kind`` names the channel that sends it (``email``, ``chat``); ``channel`` is unique per
    edition: ``email``, or ``chat:<address id>`` for each chat address. ``not_before`` holds
    a delivery back when the service asked to wait (HTTP 429 Retry-After).
    """

    __table_args__ = (
        Index("ix_delivery_status_created", "status", "created_at"),
        # The claim: pending (or lapsed) rows of one kind in id order, whatever else the
        # table holds (outbox.ledger._due_queries). Partial, so the sent rows of earlier
        # days are in neither.
        Index(
            "ix_delivery_pending_kind_id",
            "kind",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_delivery_sending_kind_id",
            "kind",
            "id",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
        UniqueConstraint("edition_id", "channel", name="uq_delivery_edition_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(foreign_key="edition.id", index=True, ondelete="CASCADE")
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="email", max_length=16, sa_column_kwargs={"server_default": "email"})
    channel: str = Field(
        default="email", max_length=64, sa_column_kwargs={"server_default": "email"}
    )
    address_id: int | None = Field(
        default=None, foreign_key="channel_address.id", index=True, ondelete="CASCADE"
    )
    not_before: datetime | None = _ts(nullable=True)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message_id: str | None = Field(default=None, sa_type=String(255))
    claimed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    claimed_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class PaperEmbedding(SQLModel, table=True):
    """A paper's sentence embedding (semantic ranker), computed once per paper and model.

    ``vector`` is the unit-length embedding as little-endian float16 (768 bytes for 384
    dimensions): half the size of float32 and far finer than the ranking needs.
    """

    paper_id: str = Field(
        foreign_key="paper.arxiv_id", primary_key=True, max_length=32, ondelete="CASCADE"
    )
    model: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _ts()


class TopicEmbedding(SQLModel, table=True):
    """The embedding of one interest topic's text, shared by every subscriber who typed it.

    Keyed by a hash of the text, so an edited interest is simply a new key: old rows are
    harmless and housekeeping drops the ones no subscriber uses any more.
    """

    model: str = Field(primary_key=True, max_length=64)
    text_key: str = Field(primary_key=True, max_length=64)
    text: str = Field(sa_type=Text)
    vector: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _ts()


class Rating(SQLModel, table=True):
    """A reader's "more like this" (+1) or "less like this" (-1) on a paper they were sent.

    One row per (subscriber, paper): a later click replaces the earlier one, so the latest
    wins. Deleted with the subscriber (and with the paper, which housekeeping may drop).
    """

    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id", name="uq_rating_paper"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    paper_id: str = Field(foreign_key="paper.arxiv_id", max_length=32, ondelete="CASCADE")
    value: int
    created_at: datetime = _ts()


class MailEventKind(StrEnum):
    HARD_BOUNCE = "hard_bounce"  # the address does not exist: undeliverable at once
    SOFT_BOUNCE = "soft_bounce"  # mailbox full, greylisted…: counted over days
    COMPLAINT = "complaint"  # the reader pressed "this is spam": unsubscribed at once


class MailEvent(SQLModel, table=True):
    """A bounce or complaint reported after the relay accepted a message.

    From a provider's webhook (``ses``, ``postmark``, ``sendgrid``, ``mailgun``) or the bounce
    mailbox (``imap``). ``event_key`` is the report's own id, unique per source, so a
    provider's retried webhook or a mailbox read twice records nothing new. ``subscriber_id``
    is None when the report matched nobody (still counted in the rates).
    """

    __tablename__ = "mail_event"
    __table_args__ = (
        UniqueConstraint("source", "event_key", name="uq_mail_event_source_key"),
        Index("ix_mail_event_kind_occurred", "kind", "occurred_at"),
        Index("ix_mail_event_subscriber_kind", "subscriber_id", "kind", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int | None = Field(
        default=None, foreign_key="subscriber.id", nullable=True, ondelete="CASCADE"
    )
    delivery_id: int | None = Field(default=None, nullable=True)
    source: str = Field(max_length=16)
    kind: str = Field(max_length=16)
    event_key: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320, nullable=True)
    detail: str = Field(default="", sa_type=Text)
    occurred_at: datetime = _ts()
    created_at: datetime = _ts()
