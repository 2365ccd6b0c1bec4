"""Queries and writes for composing editions: who is due, what they may get, the ledger.

Writing an edition, its papers, the never-twice ledger rows and its deliveries happens in
one transaction: one delivery per channel the subscriber reads on (``email`` when they have
an address and want email digests, ``chat:<id>`` for each active chat address). The ledger
insert has no ON CONFLICT: if another composer already sent one of these papers to this
subscriber, the whole transaction fails and nothing is written twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Table, func, insert, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from paperfeed.store.models import (
    ChannelAddress,
    ChannelAddressStatus,
    Delivery,
    Edition,
    EditionPaper,
    Frequency,
    Listing,
    ListingDay,
    Paper,
    SentPaper,
    Subscriber,
    SubscriberStatus,
)

CHUNK = 500
_LISTING: Table = Listing.__table__  # type: ignore[attr-defined]
_LISTING_DAY: Table = ListingDay.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ListedPaper:
    """A paper on a settled day's list, with the day, when it settled and its latest upvotes."""

    paper: Paper
    listing_date: date
    settled_at: datetime
    upvotes: int
    comments: int


@dataclass(frozen=True, slots=True)
class PlannedPaper:
    """One paper chosen for an edition."""

    paper_id: str
    section: str  # "matched" or "trending"
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlannedEdition:
    """An edition to write: who, for which local date, which papers, and whether to send it
    (on every channel the subscriber reads on when it is written)."""

    subscriber_id: int
    local_date: date
    papers: tuple[PlannedPaper, ...]
    deliver: bool


def receiving_subscribers(session: Session, *, email: str | None = None) -> Sequence[Subscriber]:
    """Confirmed subscribers who are not paused and have not switched digests off.

    Team digests (a name, no email) are among them: they receive through chat addresses.
    """
    query = select(Subscriber).where(
        Subscriber.status == SubscriberStatus.ACTIVE,
        col(Subscriber.paused).is_(False),
        Subscriber.frequency != Frequency.OFF,
    )
    if email is not None:
        query = query.where(Subscriber.email == email)
    return session.exec(query.order_by(col(Subscriber.id))).all()


def editions_on(session: Session, pairs: Iterable[tuple[int, date]]) -> set[tuple[int, date]]:
    """Which of these (subscriber, local date) pairs have an edition already."""
    wanted = list(pairs)
    found: set[tuple[int, date]] = set()
    key = tuple_(col(Edition.subscriber_id), col(Edition.local_date))
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = session.exec(
            select(col(Edition.subscriber_id), col(Edition.local_date)).where(key.in_(chunk))
        ).all()
        found.update((int(s), d) for s, d in rows)
    return found


def last_edition_at(session: Session, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
    """When each subscriber's newest edition was created (absent: never)."""
    out: dict[int, datetime] = {}
    for start in range(0, len(subscriber_ids), CHUNK):
        chunk = subscriber_ids[start : start + CHUNK]
        rows = session.exec(
            select(col(Edition.subscriber_id), func.max(Edition.created_at))
            .where(col(Edition.subscriber_id).in_(chunk))
            .group_by(col(Edition.subscriber_id))
        ).all()
        for subscriber_id, created in rows:
            if created is not None:
                # func.max bypasses the column type on SQLite: re-read it as UTC.
                out[int(subscriber_id)] = _aware(created)
    return out


def settled_papers(session: Session, *, since: date, until: date) -> list[ListedPaper]:
    """Papers listed on settled daily lists from ``since`` to ``until``, first listing kept."""
    rows = session.execute(
        sa_select(
            Paper,
            _LISTING.c.listing_date,
            _LISTING_DAY.c.settled_at,
            _LISTING.c.upvotes,
            _LISTING.c.comments,
        )
        .join(Listing, col(Listing.paper_id) == col(Paper.arxiv_id))
        .join(
            ListingDay,
            (col(ListingDay.kind) == col(Listing.kind))
            & (col(ListingDay.listing_date) == col(Listing.listing_date)),
        )
        .where(
            col(Listing.kind) == "daily",
            col(Listing.listing_date) >= since,
            col(Listing.listing_date) <= until,
            col(ListingDay.settled_at).is_not(None),
        )
        .order_by(col(Listing.listing_date), col(Listing.rank))
    ).all()
    # A paper listed again on a later day keeps its first day; its votes are the newest.
    first: dict[str, ListedPaper] = {}
    for paper, listing_date, settled_at, upvotes, comments in rows:
        assert settled_at is not None
        previous = first.get(paper.arxiv_id)
        if previous is None:
            first[paper.arxiv_id] = ListedPaper(paper, listing_date, settled_at, upvotes, comments)
        else:
            first[paper.arxiv_id] = ListedPaper(
                paper,
                previous.listing_date,
                previous.settled_at,
                max(upvotes, previous.upvotes),
                max(comments, previous.comments),
            )
    return list(first.values())


def sent_papers(
    session: Session, subscriber_ids: Sequence[int], paper_ids: Sequence[str]
) -> dict[int, set[str]]:
    """Which of ``paper_ids`` each subscriber has already been sent."""
    out: dict[int, set[str]] = defaultdict(set)
    if not paper_ids:
        return out
    for start in range(0, len(subscriber_ids), CHUNK):
        chunk = subscriber_ids[start : start + CHUNK]
        rows = session.exec(
            select(col(SentPaper.subscriber_id), col(SentPaper.paper_id)).where(
                col(SentPaper.subscriber_id).in_(chunk), col(SentPaper.paper_id).in_(paper_ids)
            )
        ).all()
        for subscriber_id, paper_id in rows:
            out[int(subscriber_id)].add(paper_id)
    return out


def write_editions(session: Session, plans: Sequence[PlannedEdition], *, now: datetime) -> int:
    """Insert editions (skipping any that exist), their papers, ledger rows and deliveries."""
    if not plans:
        return 0
    dialect = session.get_bind().dialect.name
    edition_table: Table = Edition.__table__  # type: ignore[attr-defined]
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        make_insert(edition_table)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "local_date"])
        .returning(edition_table.c.id, edition_table.c.subscriber_id)
    )
    channels = delivery_channels(session, [p.subscriber_id for p in plans if p.deliver])
    written = 0
    papers: list[dict[str, object]] = []
    ledger: list[dict[str, object]] = []
    deliveries: list[dict[str, object]] = []
    for plan in plans:
        row = session.execute(
            stmt.values(
                subscriber_id=plan.subscriber_id, local_date=plan.local_date, created_at=now
            )
        ).first()
        if row is None:  # another composer wrote it first: theirs stands
            continue
        edition_id = int(row[0])
        written += 1
        for rank, planned in enumerate(plan.papers, start=1):
            papers.append(
                {
                    "edition_id": edition_id,
                    "paper_id": planned.paper_id,
                    "section": planned.section,
                    "rank": rank,
                    "score": planned.score,
                    "reasons": list(planned.reasons),
                }
            )
            ledger.append(
                {
                    "subscriber_id": plan.subscriber_id,
                    "paper_id": planned.paper_id,
                    "edition_id": edition_id,
                    "created_at": now,
                }
            )
        if plan.deliver:
            for kind, channel, address_id in channels.get(plan.subscriber_id, ()):
                deliveries.append(
                    {
                        "edition_id": edition_id,
                        "subscriber_id": plan.subscriber_id,
                        "kind": kind,
                        "channel": channel,
                        "address_id": address_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
    for table, rows in (
        (EditionPaper.__table__, papers),  # type: ignore[attr-defined]
        (SentPaper.__table__, ledger),  # type: ignore[attr-defined]
        (Delivery.__table__, deliveries),  # type: ignore[attr-defined]
    ):
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(table), rows[start : start + CHUNK])
    return written


Channel = tuple[str, str, int | None]  # kind, channel, chat address id


def delivery_channels(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[Channel]]:
    """Where each subscriber's edition goes: ``email`` when they have an address and want
    email digests, and ``chat:<id>`` for each of their active chat addresses."""
    ids = sorted(set(subscriber_ids))
    out: dict[int, list[Channel]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for sid in session.exec(
            select(col(Subscriber.id)).where(
                col(Subscriber.id).in_(chunk),
                col(Subscriber.email).is_not(None),
                col(Subscriber.email_digest).is_(True),
            )
        ).all():
            out[int(sid)].append(("email", "email", None))  # type: ignore[arg-type]
        for address_id, sid, kind in session.exec(
            select(
                col(ChannelAddress.id), col(ChannelAddress.subscriber_id), col(ChannelAddress.kind)
            )
            .where(
                col(ChannelAddress.subscriber_id).in_(chunk),
                col(ChannelAddress.status) == ChannelAddressStatus.ACTIVE,
            )
            .order_by(col(ChannelAddress.id))
        ).all():
            out[int(sid)].append((kind, f"{kind}:{address_id}", int(address_id)))  # type: ignore[arg-type]
    return out


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
