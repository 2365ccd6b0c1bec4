"""Fixed data for the web tests: four daily lists of real papers, and a mail catcher.

Days 2026-09-21 to 23 are settled, the 24th is not. Upvotes are not in list order, so "most
upvoted first" is visible. Day 1 holds a paper with a hostile title and a javascript: link,
and day 2 a speculative-decoding paper whose main subject is vision (for exclusions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.digest import EditionPolicy, pick_papers
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.transport import Outcome, SendResult
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.models import Subscriber
from tests.support.data_paths import CORPUS

FIRST_DAY = date(2026, 9, 21)
DAYS = 4
PER_DAY = 20
SETTLED_DAYS = 3
NOW = datetime(2026, 9, 25, 9, 0, tzinfo=UTC)
HOSTILE_TITLE = '<script>alert("x")</script> & <b>Bold</b> claims'
VISION_PAPER = "2609.99001"
HOSTILE_PAPER = "2609.99002"
SECRET = "test-secret-key-" + "k" * 32
# For tests whose code path is the same on both databases: run once, on SQLite.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def corpus() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def app_settings(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    """The web app's settings in tests: this test's folder and database, a fixed secret and
    sender, feeds read fresh on every request; ``changes`` as keyword arguments to Settings
    (a served app's ``public_url``, its SMTP server, ...)."""
    values: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "public_url": "http://testserver",
        "secret_key": SECRET,
        "mail_from": "paperfeed <digest@paperfeed.example>",
        "feed_check_seconds": 0,
    }
    return Settings(**(values | changes))


def sign_up_form(email: str, csrf: str) -> dict[str, str]:
    """The sign-up form's fields as a reader fills them in, with the page's form token."""
    return {
        "csrf": csrf,
        "email": email,
        "interests": "speculative decoding",
        "timezone": "UTC",
        "send_hour": "8",
        "frequency": "daily",
    }


def crawled_at(day: date) -> datetime:
    """When a day's list was crawled (and settled): 07:00 UTC the next day."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=7)


def day_papers(n: int, docs: Sequence[dict[str, str]]) -> list[PaperRecord]:
    chunk = docs[110 + n * PER_DAY : 110 + (n + 1) * PER_DAY]
    papers = [
        PaperRecord(
            arxiv_id=f"2609.{n:02d}{i:03d}",
            title=d["title"],
            abstract=d["abstract"],
            authors=(f"Author {n}{i}", "Ada Lovelace") if i % 3 == 0 else (f"Author {n}{i}",),
            github_repo=f"https://github.com/example/repo{n}{i}" if i % 2 == 0 else None,
            project_page=f"https://example.org/p/{n}{i}" if i % 5 == 0 else None,
            published_at=datetime(2026, 9, 18, 12, tzinfo=UTC),
        )
        for i, d in enumerate(chunk)
    ]
    if n == 0:
        papers.append(
            PaperRecord(
                arxiv_id=HOSTILE_PAPER,
                title=HOSTILE_TITLE,
                abstract="An abstract with <i>markup</i> & an ampersand.",
                authors=("Eve <eve@example.org>",),
                github_repo="javascript:alert(1)",
            )
        )
    if n == 1:
        papers.append(
            PaperRecord(
                arxiv_id=VISION_PAPER,
                title="Speculative Decoding for Vision Transformers",
                abstract="We apply speculative decoding to vision transformers and vision "
                "language models; vision tokens are drafted by a small vision encoder.",
                authors=("Grace Hopper",),
                ai_keywords=("vision", "speculative decoding"),
            )
        )
    return papers


def store_days(engine: Engine, *, days: int = DAYS, settled_days: int = SETTLED_DAYS) -> None:
    """Store the sample lists; the first ``settled_days`` are settled."""
    docs = corpus()
    for n in range(days):
        day = FIRST_DAY + timedelta(days=n)
        papers = tuple(day_papers(n, docs))
        listings = tuple(
            ListingRecord(
                day, p.arxiv_id, rank=i + 1, upvotes=(i * 37 + n * 11) % 97 + 1, comments=i
            )
            for i, p in enumerate(papers)
        )
        result = DayResult(
            day=day, kind="daily", status="ok", source="api", papers=papers, listings=listings
        )
        at = crawled_at(day)
        with session_scope(engine) as session:
            save_day(session, result, started_at=at, finished_at=at, settled=n < settled_days)


class MemoryTransport:
    """A transport that keeps every message it is given and accepts them all."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    @property
    def paused_reason(self) -> str | None:
        return None

    def resume(self) -> None:
        return None

    async def send(self, messages: Sequence[OutgoingMail]) -> list[SendResult]:
        self.sent.extend(messages)
        return [SendResult(m.message_id, Outcome.ACCEPTED, code=250) for m in messages]

    async def aclose(self) -> None:
        return None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def next_picks(engine: Engine, reader: int) -> dict[str, float]:
    """The papers the reader's next edition would match, in order, with their scores
    (compose's own rule, on the day after the stored days settle)."""
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, reader)
        assert subscriber is not None
    picks = pick_papers(
        engine,
        CorpusCache(),
        interests=subscriber.interests,
        local_date=FIRST_DAY + timedelta(days=SETTLED_DAYS),
        policy=EditionPolicy(),
        subscriber=subscriber,
    )
    return {p.paper_id: p.score for p in picks.selection.matched}
