"""Term statistics kept in the store: counted as crawls store papers, filled by the migration,
loaded by ranking instead of reading every paper, and always equal to a rebuild from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
import stamina
from sqlalchemy import Engine
from sqlmodel import col, select

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache, count_stored_papers, stored_term_stats, to_document
from paperfeed.crawler.client import make_client
from paperfeed.crawler.pacing import Pacer
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.jobs.crawl import crawl_days
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.stats import TermStats
from paperfeed.store import migrate
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import CountedText, Paper, TermCounts
from tests.support.fake_hf import FakeClock, FakeHF
from tests.support.hf_days import fixture_items, synthetic_days

FIRST_DAY = date(2026, 10, 5)  # a Monday
CRAWLED = datetime(2026, 10, 20, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture
def fake() -> Iterator[FakeHF]:
    # Two weeks of real-shaped days; each list repeats five papers of the day before.
    days = synthetic_days(fixture_items(), start=FIRST_DAY, count=14, per_day=20, carry_over=5)
    with FakeHF(days=days, hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def client(fake: FakeHF, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(var_dir=tmp_path / "var", hf_base_url=fake.url)
    with make_client(settings, timeout=2.0) as http:
        yield http


def _crawl(engine: Engine, client: httpx.Client, days: list[date], at: datetime) -> None:
    crawl_days(engine, client, days, settle_hours=6, pacer=Pacer(clock=FakeClock(start=at)))


def _rebuilt(engine: Engine) -> TermStats:
    """The statistics built at once from every stored paper, as the store holds it now."""
    with session_scope(engine) as session:
        return TermStats.from_documents(to_document(p) for p in session.exec(select(Paper)))


def _stored(engine: Engine) -> TermStats:
    with session_scope(engine) as session:
        stats = stored_term_stats(session)
    assert stats is not None
    return stats


def _assert_same(found: TermStats, expected: TermStats) -> None:
    assert found.n_docs == expected.n_docs
    assert found.field_terms == expected.field_terms
    assert np.array_equal(found.idf_table(), expected.idf_table())
    for key in ("model", "language model", "diffusion", "agent"):
        assert found.document_frequency(key) == expected.document_frequency(key)


def _uncounted(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(Paper).where(col(Paper.stats_counted).is_(False))).all())


def test_statistics_counted_crawl_by_crawl_equal_a_rebuild_from_every_paper(
    engine: Engine, fake: FakeHF, client: httpx.Client
) -> None:
    days = sorted(fake.days)
    _crawl(engine, client, days[:4], CRAWLED)
    _crawl(engine, client, days[2:], CRAWLED + timedelta(hours=1))  # re-crawls two days
    _crawl(engine, client, days, CRAWLED + timedelta(hours=2))  # everything again

    stored = _stored(engine)
    _assert_same(stored, _rebuilt(engine))
    # Re-crawled and carried-over papers were counted once: one count per stored paper.
    assert stored.n_docs == sum(len(items) for items in fake.days.values()) - 5 * (len(days) - 1)
    assert _uncounted(engine) == 0
    # A process loads the stored row and has nothing left to count itself.
    assert CorpusCache().refresh(engine) == 0


def test_a_recrawl_that_changes_a_papers_text_recounts_it_once(
    engine: Engine, fake: FakeHF, client: httpx.Client
) -> None:
    day = sorted(fake.days)[0]
    _crawl(engine, client, [day], CRAWLED)
    before = _stored(engine).n_docs
    # Hugging Face adds AI keywords and fixes titles hours after a paper is listed.
    item = fake.days[day][0]
    item["paper"]["ai_keywords"] = ["sourdough fermentation", "wild yeast"]
    item["paper"]["title"] = "Sourdough Starters as Distributed Systems"
    _crawl(engine, client, [day], CRAWLED + timedelta(hours=3))

    stored = _stored(engine)
    assert stored.n_docs == before
    assert stored.document_frequency("sourdough") == 1
    _assert_same(stored, _rebuilt(engine))
    with session_scope(engine) as session:
        assert session.exec(select(CountedText)).all() == []


def _store_without_counting(engine: Engine, day: date, papers: list[PaperRecord]) -> None:
    listings = tuple(
        ListingRecord(day, p.arxiv_id, rank=i + 1, upvotes=10, comments=0)
        for i, p in enumerate(papers)
    )
    result = DayResult(
        day=day, kind="daily", status="ok", source="api", papers=tuple(papers), listings=listings
    )
    with session_scope(engine) as session:
        save_day(session, result, started_at=CRAWLED, finished_at=CRAWLED, settled=True)


def _records(prefix: str, count: int, *, keywords: tuple[str, ...] = ()) -> list[PaperRecord]:
    items = fixture_items()
    return [
        PaperRecord(
            arxiv_id=f"{prefix}.{i:05d}",
            title=items[i]["paper"]["title"],
            abstract=items[i]["paper"].get("summary") or "",
            ai_keywords=keywords,
        )
        for i in range(count)
    ]


def test_papers_stored_without_counting_are_counted_in_memory_until_a_crawl_counts_them(
    engine: Engine,
) -> None:
    _store_without_counting(engine, FIRST_DAY, _records("2610", 12))
    corpus = CorpusCache()
    assert corpus.refresh(engine) == 12
    _assert_same(corpus.lexical_ranker(engine).stats, _rebuilt(engine))

    # A changed text not counted yet either: the reader takes the old one out itself.
    with session_scope(engine, write_lock=True) as session:
        assert count_stored_papers(session) == 12
    _store_without_counting(
        engine, FIRST_DAY + timedelta(days=1), _records("2610", 3, keywords=("wild yeast",))
    )
    assert corpus.refresh(engine) == 3
    _assert_same(corpus.lexical_ranker(engine).stats, _rebuilt(engine))

    with session_scope(engine, write_lock=True) as session:
        assert count_stored_papers(session) == 3
    assert corpus.refresh(engine) == 0
    _assert_same(_stored(engine), _rebuilt(engine))
    assert _stored(engine).n_docs == 12


def test_crawls_storing_papers_at_the_same_time_each_count_theirs_once(engine: Engine) -> None:
    # Four writers, four days each; neighbouring writers share a third of their papers (a
    # day's list row is not what this is about: each writer has days of its own).
    def crawl(writer: int) -> None:
        for n in range(4):
            day = FIRST_DAY + timedelta(days=4 * writer + n)
            records = _records(f"26{10 + writer}", 10) + _records(f"26{11 + writer}", 5)
            papers = [
                replace(r, arxiv_id=f"{r.arxiv_id}{n}", title=f"{r.title} {writer}")
                for r in records
            ]
            result = DayResult(
                day=day,
                kind="daily",
                status="ok",
                source="api",
                papers=tuple(papers),
                listings=(),
            )
            with session_scope(engine, write_lock=True) as session:
                save_day(session, result, started_at=CRAWLED, finished_at=CRAWLED, settled=False)
                count_stored_papers(session)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(crawl, range(4)))

    stored = _stored(engine)
    with session_scope(engine) as session:
        assert stored.n_docs == len(session.exec(select(Paper)).all())
    _assert_same(stored, _rebuilt(engine))
    assert _uncounted(engine) == 0


def _count(engine: Engine) -> None:
    with session_scope(engine, write_lock=True) as session:
        count_stored_papers(session)


def _day_documents(engine: Engine, ids: list[str]) -> list[Document]:
    with session_scope(engine) as session:
        return [to_document(session.get_one(Paper, paper_id)) for paper_id in ids]


def test_a_day_indexed_against_stored_statistics_counts_none_of_its_papers_twice(
    engine: Engine,
) -> None:
    first, second = _records("2610", 12), _records("2611", 5)
    _store_without_counting(engine, FIRST_DAY, first)
    _count(engine)
    before = _rebuilt(engine)
    stale = CorpusCache().lexical_ranker(engine)
    _store_without_counting(engine, FIRST_DAY + timedelta(days=1), second)
    _count(engine)
    after = _rebuilt(engine)

    # The day's papers are in the statistics already: IDF stays that of the stored papers.
    day = stale.index_day(_day_documents(engine, [r.arxiv_id for r in first]))
    _assert_same(day.stats, before)
    # Papers counted after a ranker loaded its statistics are new to it: it counts them in.
    day = stale.index_day(_day_documents(engine, [r.arxiv_id for r in second]))
    _assert_same(day.stats, after)
    fresh = CorpusCache().lexical_ranker(engine)
    _assert_same(fresh.index_day(_day_documents(engine, [r.arxiv_id for r in second])).stats, after)


def test_ranking_on_stored_statistics_equals_ranking_on_statistics_from_every_paper(
    engine: Engine, fake: FakeHF, client: httpx.Client
) -> None:
    days = sorted(fake.days)
    _crawl(engine, client, days, CRAWLED)
    with session_scope(engine) as session:
        papers = session.exec(select(Paper)).all()
        everything = {p.arxiv_id: to_document(p) for p in papers}
    today = [everything[item["paper"]["id"]] for item in fake.days[days[-1]]]
    liked = fake.days[days[0]][3]["paper"]["id"]  # a paper of another day
    interests = [
        parse_interests("large language models\nreasoning"),
        parse_interests("diffusion\n-video"),
        parse_interests(f"like:{liked}"),
    ]
    # How every process ranked before: statistics and liked papers built from every paper.
    rebuilt = LexicalRanker(TermStats.from_documents(everything.values()), known=everything)
    stored = CorpusCache().lexical_ranker(engine)

    expected = rebuilt.rank(rebuilt.index_day(today), interests)
    found = stored.rank(stored.index_day(today), interests)
    assert [found.select(i) for i in range(3)] == [expected.select(i) for i in range(3)]
    assert all(expected.select(i) for i in range(3))


def test_like_ids_are_looked_up_in_the_store_one_by_one(engine: Engine) -> None:
    records = _records("2610", 5)
    _store_without_counting(engine, FIRST_DAY, records)
    known = CorpusCache().lexical_ranker(engine).known
    with session_scope(engine) as session:
        expected = to_document(session.get_one(Paper, records[2].arxiv_id))
    assert known.get(records[2].arxiv_id) == expected
    assert known.get("2610.99999") is None
    assert len(known) == 5


def test_statistics_from_another_tokeniser_version_are_rebuilt_by_the_next_count(
    engine: Engine,
) -> None:
    _store_without_counting(engine, FIRST_DAY, _records("2610", 8))
    with session_scope(engine, write_lock=True) as session:
        count_stored_papers(session)
        row = session.get_one(TermCounts, 1)
        row.features_version = -1
        session.add(row)
    with session_scope(engine) as session:
        assert stored_term_stats(session) is None
    # Until then, readers count every paper themselves and rank as before.
    corpus = CorpusCache()
    assert corpus.refresh(engine) == 8
    _assert_same(corpus.lexical_ranker(engine).stats, _rebuilt(engine))

    with session_scope(engine, write_lock=True) as session:
        assert count_stored_papers(session) == 8
    _assert_same(_stored(engine), _rebuilt(engine))
    assert CorpusCache().refresh(engine) == 0


def test_statistics_lost_are_rebuilt_from_every_paper_by_the_next_count(engine: Engine) -> None:
    _store_without_counting(engine, FIRST_DAY, _records("2610", 8))
    with session_scope(engine, write_lock=True) as session:
        count_stored_papers(session)
    with session_scope(engine) as session:  # every paper is flagged as counted, the row gone
        session.execute(sa.delete(TermCounts))
    _store_without_counting(engine, FIRST_DAY + timedelta(days=1), _records("2611", 4))

    with session_scope(engine, write_lock=True) as session:
        assert count_stored_papers(session) == 12
    _assert_same(_stored(engine), _rebuilt(engine))


def test_the_migration_counts_the_papers_of_an_existing_database(
    unmigrated_database_url: str,
) -> None:
    engine = make_engine(unmigrated_database_url)
    migrate.upgrade(engine, "0002")
    paper = sa.table(
        "paper",
        *(sa.column(c) for c in ("arxiv_id", "title", "abstract", "ai_summary")),
        sa.column("authors", sa.JSON),
        sa.column("ai_keywords", sa.JSON),
        sa.column("raw", sa.JSON),
        sa.column("first_seen_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )
    items = fixture_items()
    rows = [
        {
            "arxiv_id": f"2609.{i:05d}",
            "title": item["paper"]["title"],
            "abstract": "",  # some stored papers only have the AI summary
            "ai_summary": item["paper"].get("summary") or "",
            "authors": [],
            "ai_keywords": item["paper"].get("ai_keywords") or [],
            "raw": {},
            "first_seen_at": CRAWLED,
            "updated_at": CRAWLED,
        }
        for i, item in enumerate(items)
    ]
    with engine.begin() as connection:
        connection.execute(paper.insert(), rows)

    migrate.upgrade(engine)

    stored = _stored(engine)
    assert stored.n_docs == len(items)
    _assert_same(stored, _rebuilt(engine))
    assert _uncounted(engine) == 0
    assert CorpusCache().refresh(engine) == 0
    engine.dispose()
