"""Saving one crawl of one list: its papers and listings, a CrawlRun row, the day's state.

A failed crawl writes its CrawlRun (with the error) and nothing else, so a day that was
complete before stays complete: an error is never stored as an empty day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from paperfeed.crawler.records import DayResult
from paperfeed.store.models import CrawlRun, CrawlStatus, ListingDay
from paperfeed.store.papers import upsert_list

# Outcomes after which a day's list may be final; an error or "not yet" never settles a day.
SETTLING: frozenset[str] = frozenset({CrawlStatus.OK, CrawlStatus.EMPTY})


@dataclass(frozen=True, slots=True)
class SavedDay:
    """What saving a crawl changed."""

    day: date
    kind: str
    status: str
    papers_found: int
    papers_new: int
    settled: bool
    # Papers the database refused and that were dropped, one warning each (day and paper).
    dropped: tuple[str, ...] = ()


def save_day(
    session: Session,
    result: DayResult,
    *,
    started_at: datetime,
    finished_at: datetime,
    settled: bool,
) -> SavedDay:
    """Store a crawl's papers and listings (when it succeeded) and record how it went; a
    paper the database refuses is dropped with a warning, not the whole list."""
    papers_new = 0
    listed = len(result.listings)
    dropped: tuple[str, ...] = ()
    if result.status == "ok":
        stored = upsert_list(
            session,
            result.papers,
            result.listings,
            now=finished_at,
            label=f"{result.day} {result.kind}",
        )
        papers_new, listed, dropped = stored.papers.new, stored.kept, stored.dropped
    session.add(
        CrawlRun(
            kind=result.kind,
            listing_date=result.day,
            started_at=started_at,
            finished_at=finished_at,
            source=result.source,
            papers_found=len(result.papers),
            papers_claimed=result.claimed,
            papers_new=papers_new,
            skipped=len(result.warnings) + len(dropped),
            status=result.status,
            error=result.error,
        )
    )
    day = _listing_day(session, result.kind, result.day)
    now_settled = False
    if result.status != "error" or day is None:
        if day is None:
            day = ListingDay(
                kind=result.kind,
                listing_date=result.day,
                status=result.status,
                last_crawled_at=finished_at,
            )
        day.status = result.status
        day.source = result.source
        day.paper_count = listed
        day.last_crawled_at = finished_at
        if settled and result.status in SETTLING and day.settled_at is None:
            day.settled_at = finished_at
            now_settled = True
        session.add(day)
    session.flush()
    return SavedDay(
        day=result.day,
        kind=result.kind,
        status=result.status,
        papers_found=len(result.papers),
        papers_new=papers_new,
        settled=now_settled or (day.settled_at is not None),
        dropped=dropped,
    )


def _listing_day(session: Session, kind: str, day: date) -> ListingDay | None:
    return session.exec(
        select(ListingDay).where(ListingDay.kind == kind, ListingDay.listing_date == day)
    ).first()


def settled_days(
    session: Session, *, since: date, until: date, kind: str = "daily"
) -> Sequence[date]:
    """The days between ``since`` and ``until`` (inclusive) whose list is final."""
    rows = session.exec(
        select(col(ListingDay.listing_date))
        .where(
            ListingDay.kind == kind,
            col(ListingDay.listing_date) >= since,
            col(ListingDay.listing_date) <= until,
            col(ListingDay.settled_at).is_not(None),
        )
        .order_by(col(ListingDay.listing_date))
    ).all()
    return list(rows)


def last_crawl_started(session: Session) -> datetime | None:
    """When the newest crawl run started, if any."""
    return session.exec(select(func.max(col(CrawlRun.started_at)))).first()
