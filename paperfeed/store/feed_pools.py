"""The public papers feeds and pages draw from: the settled daily lists, newest first.

``feed_pool_version`` changes whenever the pool does (a crawl, a day settling), so feeds can
answer conditional requests without reading the papers. Read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from paperfeed.store.editions import ListedPaper
from paperfeed.store.models import Listing, ListingDay, Paper
from paperfeed.store.timestamps import aware_utc


def feed_pool_version(session: Session) -> tuple[datetime | None, int]:
    """When a daily list was last crawled, and how many have settled: changes with the pool."""
    newest, settled = session.execute(
        select(func.max(ListingDay.last_crawled_at), func.count(col(ListingDay.settled_at))).where(
            col(ListingDay.kind) == "daily"
        )
    ).one()
    return (aware_utc(newest) if newest is not None else None, int(settled))


def newest_settled_papers(session: Session, *, days: int, limit: int) -> list[ListedPaper]:
    """Papers of the newest ``days`` settled daily lists: newest day first, most upvoted first."""
    wanted = session.exec(
        select(col(ListingDay.listing_date), col(ListingDay.settled_at))
        .where(col(ListingDay.kind) == "daily", col(ListingDay.settled_at).is_not(None))
        .order_by(col(ListingDay.listing_date).desc())
        .limit(days)
    ).all()
    settled = {day: aware_utc(at) for day, at in wanted if at is not None}
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
