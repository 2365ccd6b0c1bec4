"""The outbox in bulk, for senders: claim a batch, load what it needs, mark many rows at once.

``outbox.py`` has the one-row functions; these do the same per batch in a few statements
(a claim is one SELECT and one UPDATE, marking a batch sent is one executemany), so the
ledger costs little next to rendering and SMTP. Claims follow ``outbox.py``: pending rows, or
rows left in ``sending`` longer than the lease; PostgreSQL skips rows other workers hold
(``FOR UPDATE SKIP LOCKED``), SQLite relies on the claim running under
``session_scope(write_lock=True)``. Knows nothing of email: it hands out plain rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Table, Text, and_, bindparam, cast, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from paperfeed.store.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionPaper,
    Frequency,
    Listing,
    Paper,
    Subscriber,
    SubscriberStatus,
)
from paperfeed.store.outbox import DEFAULT_LEASE

CHUNK = 500
_DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
_EDITION: Table = Edition.__table__  # type: ignore[attr-defined]
_EDITION_PAPER: Table = EditionPaper.__table__  # type: ignore[attr-defined]
_SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[attr-defined]
_PAPER: Table = Paper.__table__  # type: ignore[attr-defined]
_LISTING: Table = Listing.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery row as a sender sees it: which edition, for whom, how often tried, how old."""

    id: int
    edition_id: int
    subscriber_id: int
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EditionItem:
    """One paper of an edition, in its section and rank, with why it was chosen."""

    paper_id: str
    section: str
    rank: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EditionContent:
    """An edition's local date and its papers in rank order."""

    local_date: date
    items: tuple[EditionItem, ...]


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """What sending needs of a subscriber, and whether they still receive mail."""

    id: int
    email: str
    token: str
    interests: str
    receiving: bool
    feed_token: str  # the personal feed's own key (never the account token above)


@dataclass(frozen=True, slots=True)
class PaperRow:
    """What a digest shows of a paper, with its best upvote and comment counts."""

    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    github_repo: str | None
    github_stars: int | None
    ai_summary: str | None
    upvotes: int
    comments: int


_CLAIM_COLUMNS = (
    _DELIVERY.c.id,
    _DELIVERY.c.edition_id,
    _DELIVERY.c.subscriber_id,
    _DELIVERY.c.attempts,
    _DELIVERY.c.created_at,
)


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    return or_(
        _DELIVERY.c.status == DeliveryStatus.PENDING,
        and_(
            _DELIVERY.c.status == DeliveryStatus.SENDING,
            _DELIVERY.c.claimed_at < now - lease,
        ),
    )


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def claim_batch(
    session: Session,
    *,
    worker: str,
    now: datetime,
    limit: int,
    after_id: int = 0,
    subscriber_id: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` deliveries with ids above ``after_id`` (oldest first) for ``worker``.

    ``after_id`` lets one pass move forward, so a row it released is retried by the next pass,
    not again at once. ``attempts`` in the result counts this claim.
    """
    query = sa_select(*_CLAIM_COLUMNS).where(_claimable(now, lease), _DELIVERY.c.id > after_id)
    if subscriber_id is not None:
        query = query.where(_DELIVERY.c.subscriber_id == subscriber_id)
    query = query.order_by(_DELIVERY.c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
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
    return [ClaimedDelivery(int(i), int(e), int(s), int(a) + 1, c) for i, e, s, a, c in rows]


def due_deliveries(
    session: Session,
    *,
    now: datetime,
    limit: int,
    after_id: int = 0,
    subscriber_id: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> list[ClaimedDelivery]:
    """The deliveries ``claim_batch`` would take, read without claiming (for dry runs)."""
    query = sa_select(*_CLAIM_COLUMNS).where(_claimable(now, lease), _DELIVERY.c.id > after_id)
    if subscriber_id is not None:
        query = query.where(_DELIVERY.c.subscriber_id == subscriber_id)
    rows = session.execute(query.order_by(_DELIVERY.c.id).limit(limit)).all()
    return [ClaimedDelivery(int(i), int(e), int(s), int(a), c) for i, e, s, a, c in rows]


def count_due(
    session: Session,
    *,
    now: datetime,
    subscriber_id: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """How many deliveries are claimable now (for a progress bar)."""
    query = sa_select(func.count()).select_from(_DELIVERY).where(_claimable(now, lease))
    if subscriber_id is not None:
        query = query.where(_DELIVERY.c.subscriber_id == subscriber_id)
    return int(session.execute(query).scalar_one())


def edition_contents(session: Session, edition_ids: Sequence[int]) -> dict[int, EditionContent]:
    """Each edition's local date and papers (rank order): one row per edition, one query."""
    edition, item = _EDITION.c, _EDITION_PAPER.c
    # A batch's editions hold thousands of papers. Fetching them as rows and decoding each
    # JSON ``reasons`` through the driver costs more than the query; the database packs each
    # edition's papers into one JSON array instead, and one json.loads reads them all.
    if session.get_bind().dialect.name == "postgresql":
        packed = func.json_agg(
            func.json_build_array(item.paper_id, item.section, item.rank, item.reasons)
        )
    else:
        packed = func.json_group_array(
            func.json_array(item.paper_id, item.section, item.rank, func.json(item.reasons))
        )
    found: dict[int, EditionContent] = {}
    for chunk in _chunks(sorted(set(edition_ids))):
        rows = session.execute(
            sa_select(edition.id, edition.local_date, cast(packed, Text))
            .select_from(_EDITION.outerjoin(_EDITION_PAPER, item.edition_id == edition.id))
            .where(edition.id.in_(chunk))
            .group_by(edition.id, edition.local_date)
        ).all()
        papers = json.loads("[" + ",".join(r[2] for r in rows) + "]")
        for (edition_id, local_date, _), listed in zip(rows, papers, strict=True):
            items = sorted(
                (
                    EditionItem(pid, section, int(rank), tuple(reasons or ()))
                    for pid, section, rank, reasons in listed
                    if pid is not None  # an edition without papers packs one all-null entry
                ),
                key=lambda i: i.rank,
            )
            found[int(edition_id)] = EditionContent(local_date, tuple(items))
    return found


def sending_subscribers(
    session: Session, subscriber_ids: Sequence[int]
) -> dict[int, SubscriberRow]:
    """The subscribers of a batch; ``receiving`` is False once they left, bounced or paused."""
    out: dict[int, SubscriberRow] = {}
    for chunk in _chunks(sorted(set(subscriber_ids))):
        rows = session.execute(
            sa_select(
                _SUBSCRIBER.c.id,
                _SUBSCRIBER.c.email,
                _SUBSCRIBER.c.token,
                _SUBSCRIBER.c.interests,
                _SUBSCRIBER.c.status,
                _SUBSCRIBER.c.paused,
                _SUBSCRIBER.c.frequency,
                _SUBSCRIBER.c.feed_token,
            ).where(_SUBSCRIBER.c.id.in_(chunk))
        ).all()
        for sid, email, token, interests, status, paused, frequency, feed_token in rows:
            # The same test compose applies (editions.receiving_subscribers): whoever stopped
            # receiving after their edition was composed gets no mail from it.
            receiving = (
                status == SubscriberStatus.ACTIVE and not paused and frequency != Frequency.OFF
            )
            out[int(sid)] = SubscriberRow(int(sid), email, token, interests, receiving, feed_token)
    return out


def digest_papers(session: Session, paper_ids: Iterable[str]) -> dict[str, PaperRow]:
    """The papers with these ids, with their highest upvotes and comments on any daily list."""
    wanted = sorted(set(paper_ids))
    out: dict[str, PaperRow] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        votes = {
            pid: (int(up or 0), int(co or 0))
            for pid, up, co in session.execute(
                sa_select(
                    _LISTING.c.paper_id, func.max(_LISTING.c.upvotes), func.max(_LISTING.c.comments)
                )
                .where(_LISTING.c.kind == "daily", _LISTING.c.paper_id.in_(chunk))
                .group_by(_LISTING.c.paper_id)
            ).all()
        }
        rows = session.execute(
            sa_select(
                _PAPER.c.arxiv_id,
                _PAPER.c.title,
                _PAPER.c.abstract,
                _PAPER.c.authors,
                _PAPER.c.github_repo,
                _PAPER.c.github_stars,
                _PAPER.c.ai_summary,
            ).where(_PAPER.c.arxiv_id.in_(chunk))
        ).all()
        for pid, title, abstract, authors, repo, stars, summary in rows:
            up, co = votes.get(pid, (0, 0))
            out[pid] = PaperRow(
                pid, title, abstract or "", tuple(authors or ()), repo, stars, summary, up, co
            )
    return out


def mark_sent_many(session: Session, message_ids: Mapping[int, str], *, now: datetime) -> None:
    """Mark deliveries sent with their Message-IDs, after the server accepted each one."""
    if not message_ids:
        return
    session.execute(
        update(_DELIVERY)
        .where(_DELIVERY.c.id == bindparam("b_id"))
        .values(
            status=DeliveryStatus.SENT,
            message_id=bindparam("b_message_id"),
            sent_at=now,
            updated_at=now,
        ),
        [{"b_id": i, "b_message_id": m} for i, m in message_ids.items()],
    )


def release_many(
    session: Session, errors: Mapping[int, str], *, now: datetime, tried: bool = True
) -> None:
    """Put deliveries back in the queue; ``tried=False`` gives back the attempt the claim took."""
    if not errors:
        return
    values: dict[str, object] = {
        "status": DeliveryStatus.PENDING,
        "claimed_by": None,
        "claimed_at": None,
        "last_error": bindparam("b_error"),
        "updated_at": now,
    }
    if not tried:
        # The claim counted an attempt that never reached the server (a paused transport).
        values["attempts"] = _DELIVERY.c.attempts - 1
    session.execute(
        update(_DELIVERY).where(_DELIVERY.c.id == bindparam("b_id")).values(**values),
        [{"b_id": i, "b_error": e[:2000]} for i, e in errors.items()],
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
    """Stop all mail to subscribers whose address the server refused; returns how many changed."""
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


def find_edition(
    session: Session, *, subscriber_id: int | None = None, local_date: date | None = None
) -> tuple[int, int] | None:
    """(edition id, subscriber id) of the newest edition matching the filters, if any."""
    query = sa_select(_EDITION.c.id, _EDITION.c.subscriber_id)
    if subscriber_id is not None:
        query = query.where(_EDITION.c.subscriber_id == subscriber_id)
    if local_date is not None:
        query = query.where(_EDITION.c.local_date == local_date)
    row = session.execute(
        query.order_by(_EDITION.c.local_date.desc(), _EDITION.c.id.desc()).limit(1)
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else None
