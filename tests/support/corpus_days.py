"""Daily lists of the judged corpus' real papers (data/ranking/corpus.jsonl), stored as a crawl
stores them, for tests that compose editions or serve feeds without crawling."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine

from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from tests.support.data_paths import CORPUS


def corpus() -> list[dict[str, str]]:
    """The corpus' papers, in file order."""
    with CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def store_corpus_days(
    engine: Engine,
    first: date,
    days: int,
    per_day: int,
    *,
    settled: bool = True,
    chunks: list[list[dict[str, str]]] | None = None,
) -> None:
    """Store ``days`` daily lists from ``first``, each crawled at 07:00 UTC the next day.

    Day ``n`` holds the corpus papers ``n * per_day`` onwards, or ``chunks[n]`` when given, as
    ``2609.NNIII`` (day, index), ranked in file order with upvotes falling from 100.
    """
    docs = corpus()
    for n in range(days):
        day = first + timedelta(days=n)
        chunk = chunks[n] if chunks is not None else docs[n * per_day : (n + 1) * per_day]
        papers = tuple(
            PaperRecord(arxiv_id=f"2609.{n:02d}{i:03d}", title=d["title"], abstract=d["abstract"])
            for i, d in enumerate(chunk)
        )
        listings = tuple(
            ListingRecord(day, p.arxiv_id, rank=i + 1, upvotes=100 - i, comments=0)
            for i, p in enumerate(papers)
        )
        result = DayResult(
            day=day, kind="daily", status="ok", source="api", papers=papers, listings=listings
        )
        crawled = datetime.combine(day + timedelta(days=1), time(7), UTC)
        with session_scope(engine) as session:
            save_day(session, result, started_at=crawled, finished_at=crawled, settled=settled)
