"""Fixed papers for the feed tests: settled daily lists with upvotes out of list order, and a
feed description (also used by the proof tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.feeds.rss_atom import FeedMeta
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope

FIRST_DAY = date(2026, 9, 21)
# A feed's description and the moment its entries are published, for tests of the documents.
T0 = datetime(2026, 9, 22, 7, 0, tzinfo=UTC)
META = FeedMeta(
    title="paperfeed: trending papers",
    description="The day's trending papers.",
    site_url="https://paperfeed.example/",
    self_url="https://paperfeed.example/feeds/daily.rss",
    updated=T0,
    author="paperfeed",
)
TOPICS = (
    ("Speculative Decoding with Draft Trees", "We speed up speculative decoding of LLMs."),
    ("Speculative Decoding for Vision Transformers", "Speculative decoding for vision models."),
    ("Diffusion Models for Video", "A diffusion model that generates video."),
    ("Protein Folding at Scale", "We fold proteins with a language model."),
)


def settled_at(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=7)


def store_days(engine: Engine, *, days: int = 3, settled: int = 2) -> None:
    """``days`` lists of four papers each; the first ``settled`` lists are settled."""
    for n in range(days):
        store_day(engine, n, settled=n < settled)


def paper_record(n: int, i: int) -> PaperRecord:
    """Paper ``i`` of day ``n``'s list."""
    title, abstract = TOPICS[i]
    return PaperRecord(
        arxiv_id=f"2609.{n:02d}{i:03d}",
        title=title,
        abstract=abstract,
        authors=("Ada Lovelace", f"Author {i}"),
        github_repo="https://github.com/example/repo" if i == 0 else None,
        project_page="https://example.org/project" if i == 1 else None,
    )


def store_day(
    engine: Engine, n: int, *, settled: bool, again: int | None = None, at: datetime | None = None
) -> None:
    """Day ``n``'s list of four papers (and paper ``again`` of day 0 listed once more)."""
    day = FIRST_DAY + timedelta(days=n)
    papers = tuple(paper_record(n, i) for i in range(len(TOPICS)))
    if again is not None:
        papers += (paper_record(0, again),)
    save_list(engine, day, papers, (10, 40, 20, 30, 5), at=at or settled_at(day), settled=settled)


def save_list(
    engine: Engine,
    day: date,
    papers: Sequence[PaperRecord],
    upvotes: Sequence[int],
    *,
    at: datetime,
    settled: bool,
) -> None:
    """Store ``papers`` as ``day``'s daily list in this order, paper i with ``upvotes[i]``,
    crawled at ``at`` (also what feed_bench.py fills its store with)."""
    listings = tuple(
        ListingRecord(day, p.arxiv_id, rank=i + 1, upvotes=upvotes[i], comments=0)
        for i, p in enumerate(papers)
    )
    with session_scope(engine) as session:
        save_day(
            session,
            DayResult(day, "daily", "ok", "api", tuple(papers), listings),
            started_at=at,
            finished_at=at,
            settled=settled,
        )
