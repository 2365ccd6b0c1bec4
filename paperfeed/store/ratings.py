"""Ratings: a reader's "more like this" (+1) / "less like this" (-1) per paper, stored as data.

``record`` is the one way a rating is written: the web endpoint and ``bench/digest_run.py
--feedback`` both call it, so the benchmark measures what a click does. One row per
(subscriber, paper); the latest click wins (an upsert, safe against two clicks at once).
Rows go with the subscriber (``ON DELETE CASCADE``) and with the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from paperfeed.errors import InputError
from paperfeed.store.models import Paper, Rating
from paperfeed.store.timestamps import aware_utc

MORE = 1
LESS = -1


@dataclass(frozen=True, slots=True)
class RatedPaper:
    """One rating with the paper it is about, for the profile and the preferences page."""

    paper: Paper
    value: int
    created_at: datetime


def record(
    session: Session, subscriber_id: int, paper_id: str, value: int, *, now: datetime
) -> None:
    """Store ``value`` (+1 more like this, -1 less) for the pair, replacing an earlier one."""
    if value not in (MORE, LESS):
        raise InputError(f"a rating is +1 or -1, not {value!r}")
    values = {
        "subscriber_id": subscriber_id,
        "paper_id": paper_id,
        "value": value,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Rating).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["subscriber_id", "paper_id"],
        set_={"value": value, "created_at": now},
    )
    session.execute(statement)


def undo(session: Session, subscriber_id: int, paper_id: str) -> bool:
    """Forget the subscriber's rating of one paper; False if there was none."""
    result = session.execute(
        delete(Rating).where(
            col(Rating.subscriber_id) == subscriber_id, col(Rating.paper_id) == paper_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


def reset(session: Session, subscriber_id: int) -> int:
    """Forget every rating of the subscriber; how many there were."""
    result = session.execute(delete(Rating).where(col(Rating.subscriber_id) == subscriber_id))
    return int(getattr(result, "rowcount", 0) or 0)


def rating_of(session: Session, subscriber_id: int, paper_id: str) -> int | None:
    """The subscriber's current rating of one paper (+1, -1) or None."""
    return session.exec(
        select(Rating.value).where(
            col(Rating.subscriber_id) == subscriber_id, col(Rating.paper_id) == paper_id
        )
    ).first()


def ratings_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[RatedPaper]]:
    """Each subscriber's ratings with their papers, most recent first (latest click first)."""
    out: dict[int, list[RatedPaper]] = {}
    if not subscriber_ids:
        return out
    rows = session.exec(
        select(Rating, Paper)
        .join(Paper, col(Paper.arxiv_id) == col(Rating.paper_id))
        .where(col(Rating.subscriber_id).in_(list(subscriber_ids)))
        .order_by(col(Rating.subscriber_id), col(Rating.created_at).desc(), col(Rating.id).desc())
    ).all()
    for rating, paper in rows:
        out.setdefault(rating.subscriber_id, []).append(
            RatedPaper(paper, rating.value, aware_utc(rating.created_at))
        )
    return out


def list_ratings(session: Session, subscriber_id: int) -> list[RatedPaper]:
    """One subscriber's ratings, most recent first (the preferences page's list)."""
    return ratings_of(session, [subscriber_id]).get(subscriber_id, [])
