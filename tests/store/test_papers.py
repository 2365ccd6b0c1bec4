"""Upserts of papers and listings behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.crawler.records import ListingRecord, PaperRecord
from paperfeed.store.db import session_scope
from paperfeed.store.models import Listing, Paper
from paperfeed.store.papers import upsert_listings, upsert_papers

DAY = date(2026, 9, 28)
T0 = datetime(2026, 9, 28, 12, 0, tzinfo=UTC)


def _papers(n: int) -> list[PaperRecord]:
    return [
        PaperRecord(
            arxiv_id=f"2609.{i:05d}",
            title=f"Paper {i}",
            abstract=f"Abstract of paper {i}",
            authors=("Ada Lovelace", f"Author {i}"),
            published_at=datetime(2026, 9, 26, tzinfo=UTC),
            ai_keywords=("attention", "decoding"),
            github_repo="https://github.com/x/y" if i % 2 else None,
            github_stars=i,
            raw={"id": f"2609.{i:05d}"},
        )
        for i in range(n)
    ]


def _listings(papers: list[PaperRecord], upvotes: int) -> list[ListingRecord]:
    return [
        ListingRecord(DAY, p.arxiv_id, rank=i + 1, upvotes=upvotes + i, comments=1)
        for i, p in enumerate(papers)
    ]


def test_upserting_2000_papers_twice_keeps_2000_rows_and_updates_upvotes(engine: Engine) -> None:
    papers = _papers(2000)
    with session_scope(engine) as session:
        first = upsert_papers(session, papers, now=T0)
        upsert_listings(session, _listings(papers, upvotes=1), now=T0)
    later = T0 + timedelta(hours=3)
    with session_scope(engine) as session:
        second = upsert_papers(session, papers, now=later)
        again = upsert_listings(session, _listings(papers, upvotes=50), now=later)

    assert (first.new, first.updated) == (2000, 0)
    assert (second.new, second.updated) == (0, 2000)
    assert (again.new, again.updated) == (0, 2000)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Paper)).one() == 2000
        assert session.exec(select(func.count()).select_from(Listing)).one() == 2000
        listing = session.exec(select(Listing).where(Listing.paper_id == "2609.00007")).one()
        assert listing.upvotes == 57
        assert listing.first_seen_at == T0
        assert listing.last_seen_at == later
        paper = session.get(Paper, "2609.00007")
        assert paper is not None
        assert paper.first_seen_at == T0
        assert paper.updated_at == later
        assert paper.authors == ["Ada Lovelace", "Author 7"]
        assert paper.published_at == datetime(2026, 9, 26, tzinfo=UTC)


def test_a_poorer_later_record_does_not_erase_what_was_stored(engine: Engine) -> None:
    rich = _papers(1)[0]
    poor = PaperRecord(arxiv_id=rich.arxiv_id, title="Paper 0 (v2)")
    with session_scope(engine) as session:
        upsert_papers(session, [rich], now=T0)
    with session_scope(engine) as session:
        upsert_papers(session, [poor], now=T0 + timedelta(hours=1))
    with session_scope(engine) as session:
        paper = session.get(Paper, rich.arxiv_id)
        assert paper is not None
        assert paper.title == "Paper 0 (v2)"
        assert paper.abstract == rich.abstract
        assert paper.authors == list(rich.authors)
        assert paper.ai_keywords == list(rich.ai_keywords)
        assert paper.raw == rich.raw


def test_duplicate_records_in_one_batch_are_stored_once(engine: Engine) -> None:
    papers = _papers(3)
    with session_scope(engine) as session:
        counts = upsert_papers(session, papers + papers, now=T0)
        upsert_listings(session, _listings(papers, 1) + _listings(papers, 2), now=T0)
    assert counts.new == 3
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Listing)).one() == 3


def test_the_same_paper_on_two_days_and_two_kinds_gets_separate_listings(engine: Engine) -> None:
    paper = _papers(1)
    records = [
        ListingRecord(DAY, paper[0].arxiv_id, rank=1, upvotes=3, comments=0),
        ListingRecord(DAY + timedelta(days=1), paper[0].arxiv_id, rank=2, upvotes=5, comments=0),
        ListingRecord(DAY, paper[0].arxiv_id, rank=1, upvotes=3, comments=0, kind="trending"),
    ]
    with session_scope(engine) as session:
        upsert_papers(session, paper, now=T0)
        counts = upsert_listings(session, records, now=T0)
    assert counts.new == 3
