"""A paper the database refuses costs only that paper (issue 14, item 1), on SQLite and
PostgreSQL: the crawler repairs what it knows of, and the store is the last line for what it
does not. Records here bypass the crawler's repairs on purpose."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from paperfeed.crawler.api_items import ListedPaper, rank_listings
from paperfeed.crawler.records import DayResult, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.models import CrawlRun, Listing, ListingDay, Paper
from tests.support.hostile_day import GOOD_IDS, REPAIRABLE_IDS, hostile_result

DAY = date(2026, 9, 30)
AT = datetime(2026, 10, 2, 12, tzinfo=UTC)


def _day(papers: list[PaperRecord]) -> DayResult:
    entries = [ListedPaper(paper=p, upvotes=100 - i, comments=0) for i, p in enumerate(papers)]
    listings = rank_listings(entries, day=DAY, kind="daily")
    return DayResult(
        day=DAY, kind="daily", status="ok", source="api", papers=tuple(papers), listings=listings
    )


def test_the_papers_the_database_refuses_are_dropped_and_the_rest_stored(
    engine: Engine,
) -> None:
    good = [PaperRecord(arxiv_id=f"2609.3000{i}", title=f"Good paper {i}") for i in range(3)]
    refused = [
        PaperRecord(arxiv_id="2609.30010", title="Cut mid-emoji \ud835"),  # lone surrogate
        PaperRecord(arxiv_id="2609." + "3" * 40, title="Id longer than the key column"),
        PaperRecord(arxiv_id="2609.30012", title="Stars", github_stars=10**30),
    ]
    result = _day([good[0], *refused, good[1], good[2]])

    with Session(engine) as session:
        saved = save_day(session, result, started_at=AT, finished_at=AT, settled=True)
        session.commit()

    with Session(engine) as session:
        stored = set(session.exec(select(Paper.arxiv_id)).all())
        listed = set(session.exec(select(Listing.paper_id)).all())
        listing_day = session.exec(select(ListingDay)).one()
        run = session.exec(select(CrawlRun)).one()
    kept = {p.arxiv_id for p in good}
    # SQLite stores a 45-character id (its VARCHAR has no length); PostgreSQL refuses it.
    long_id_fits = engine.dialect.name == "sqlite"
    if long_id_fits:
        kept.add(refused[1].arxiv_id)
    assert stored == listed == kept
    assert (listing_day.paper_count, listing_day.status, run.status) == (len(kept), "ok", "ok")
    assert saved.papers_new == len(kept)
    assert len(saved.dropped) == len(refused) - long_id_fits
    assert all(w.startswith(f"{DAY} daily: 2609.3") for w in saved.dropped)
    assert all(w.endswith("; dropped") and w.isascii() for w in saved.dropped)


def test_a_list_the_database_takes_whole_drops_nothing(engine: Engine) -> None:
    papers = [PaperRecord(arxiv_id=f"2609.3100{i}", title=f"Paper {i}") for i in range(5)]

    with Session(engine) as session:
        saved = save_day(session, _day(papers), started_at=AT, finished_at=AT, settled=True)
        session.commit()

    assert (saved.papers_new, saved.dropped) == (5, ())


def test_the_hostile_day_as_the_crawler_returns_it_is_stored_whole(engine: Engine) -> None:
    result = hostile_result()

    with Session(engine) as session:
        saved = save_day(session, result, started_at=AT, finished_at=AT, settled=True)
        session.commit()
        stored = set(session.exec(select(Paper.arxiv_id)).all())

    assert saved.dropped == ()
    assert stored == set(GOOD_IDS + REPAIRABLE_IDS)
