"""Crawling the faulty fake into a real store as the daemon does, and reading the store back.

``crawl_at`` is ``crawl_due`` (jobs/crawl.py) with the crawler's clock faked: the same
``due_days`` choice, ``crawl_days`` call, pacing budgets and retry policy, but every wait
lands on a ``FakeClock`` starting at ``when``, so a storm of long Retry-Afters costs no real
time. The readers return plain values, detached from any session, for the invariants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.crawler.client import make_client
from paperfeed.crawler.pacing import Pacer
from paperfeed.jobs.crawl import CrawlSummary, crawl_days, due_days, policy_for
from paperfeed.store.db import session_scope
from paperfeed.store.models import CrawlRun, Listing, ListingDay, Paper
from tests.faults.faults_hf_server import FaultyHF
from tests.support.fake_hf import FakeClock

Items = list[dict[str, Any]]


def crawl_at(
    engine: Engine,
    hf: FaultyHF,
    when: datetime,
    *,
    days: Sequence[date] | None = None,
    timeout: float = 0.5,
    **settings: Any,
) -> CrawlSummary:
    """One crawl at ``when`` (fake clock): the due days, or ``days``, and trending."""
    config = Settings(hf_base_url=hf.url, hf_timeout_seconds=timeout, **settings)
    clock = FakeClock(start=when)
    hf.clock = clock
    today = when.date()
    if days is None:
        days = due_days(engine, today=today, recrawl_days=config.recrawl_days)
    pacer = Pacer(
        clock=clock,
        api_calls=config.hf_api_calls_per_window,
        page_loads=config.hf_page_loads_per_window,
    )
    with make_client(config) as client:
        return crawl_days(
            engine,
            client,
            days,
            settle_hours=config.settle_hours,
            pacer=pacer,
            policy=policy_for(config),
            trending=True,
            today=today,
        )


@dataclass(frozen=True)
class StoredPaper:
    title: str
    abstract: str
    first_seen_at: datetime


@dataclass(frozen=True)
class StoredListing:
    rank: int
    upvotes: int
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class StoredDay:
    status: str
    source: str | None
    paper_count: int
    settled: bool


@dataclass(frozen=True)
class StoredRun:
    kind: str
    day: date
    status: str
    source: str | None
    papers_new: int
    error: str | None


def papers(engine: Engine) -> dict[str, StoredPaper]:
    with session_scope(engine) as session:
        return {
            p.arxiv_id: StoredPaper(p.title, p.abstract, p.first_seen_at)
            for p in session.exec(select(Paper))
        }


def listings(engine: Engine, *, kind: str = "daily") -> dict[date, dict[str, StoredListing]]:
    """Each day's stored list: paper id → its place on the list."""
    found: dict[date, dict[str, StoredListing]] = {}
    with session_scope(engine) as session:
        for row in session.exec(select(Listing).where(Listing.kind == kind)):
            found.setdefault(row.listing_date, {})[row.paper_id] = StoredListing(
                row.rank, row.upvotes, row.first_seen_at, row.last_seen_at
            )
    return found


def listing_days(engine: Engine, *, kind: str = "daily") -> dict[date, StoredDay]:
    with session_scope(engine) as session:
        return {
            d.listing_date: StoredDay(d.status, d.source, d.paper_count, d.settled_at is not None)
            for d in session.exec(select(ListingDay).where(ListingDay.kind == kind))
        }


def crawl_runs(engine: Engine) -> list[StoredRun]:
    with session_scope(engine) as session:
        return [
            StoredRun(r.kind, r.listing_date, r.status, r.source, r.papers_new, r.error)
            for r in session.exec(select(CrawlRun).order_by(CrawlRun.id))  # type: ignore[arg-type]
        ]


def upvotes_of(items: Items) -> dict[str, int]:
    """What Hugging Face lists for a day: paper id → upvotes."""
    return {item["paper"]["id"]: int(item["paper"].get("upvotes") or 0) for item in items}


def assert_days_complete(engine: Engine, hf_days: dict[date, Items], days: Iterable[date]) -> None:
    """Each day's stored list is exactly HF's (every paper once, today's upvotes, ranks by
    upvotes) and recorded "ok"; and no paper is stored that no list holds."""
    stored = listings(engine)
    recorded = listing_days(engine)
    for day in days:
        expected = upvotes_of(hf_days[day])
        got = stored.get(day, {})
        assert {pid: s.upvotes for pid, s in got.items()} == expected, f"{day}: list differs"
        assert sorted(s.rank for s in got.values()) == list(range(1, len(expected) + 1))
        by_rank = sorted(got.values(), key=lambda s: s.rank)
        assert [s.upvotes for s in by_rank] == sorted(expected.values(), reverse=True)
        assert recorded[day].status == "ok", f"{day}: {recorded[day]}"
        assert recorded[day].paper_count == len(expected)
    trending = listings(engine, kind="trending")
    listed = {pid for lists in (stored, trending) for ids in lists.values() for pid in ids}
    assert set(papers(engine)) == listed, "a stored paper is on no list"
