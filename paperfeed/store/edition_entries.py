"""A subscriber's past editions as the papers they held: for the archive page and personal feeds.

Each entry is one paper of one edition with its section, rank, reasons and newest upvotes;
``edition_version`` changes with each new edition, for conditional requests. Read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from paperfeed.store.models import Edition, EditionPaper, Listing, Paper
from paperfeed.store.timestamps import aware_utc


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


def edition_version(session: Session, subscriber_id: int) -> tuple[int, int, datetime | None]:
    """Newest edition id, how many, and when the newest was made: changes with a new edition."""
    newest, count, created = session.execute(
        select(
            func.max(col(Edition.id)), func.count(col(Edition.id)), func.max(Edition.created_at)
        ).where(col(Edition.subscriber_id) == subscriber_id)
    ).one()
    return (int(newest or 0), int(count), aware_utc(created) if created is not None else None)


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
            created_at=aware_utc(edition.created_at),
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
