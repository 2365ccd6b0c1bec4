"""The stored hostile day (tests/support/hostile_day.py) on the pages and feeds people open
(issue 14): every page answers quickly, shows markup as text, and the feeds stay well-formed XML."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.corpus import count_stored_papers
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from tests.support.hostile_day import HOSTILE_DAY, REPAIRABLE_IDS, hostile_result
from tests.web.web_samples import Clock, store_days

CRAWLED = datetime(2026, 10, 1, 12, tzinfo=UTC)
PAGE_BUDGET_SECONDS = 5.0  # each answer takes well under a second here


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 10, 1, 13, tzinfo=UTC))


@pytest.fixture
def stored(engine: Engine) -> Engine:
    """The sample lists plus the hostile day, settled, with its term statistics."""
    store_days(engine)
    with session_scope(engine) as session:
        save_day(session, hostile_result(), started_at=CRAWLED, finished_at=CRAWLED, settled=True)
        count_stored_papers(session, now=CRAWLED)
    return engine


@pytest.mark.parametrize(
    "path",
    [
        "/",
        f"/archive/{HOSTILE_DAY}",
        "/archive",
        "/feeds/daily.rss",
        "/feeds/daily.atom",
        "/feeds/topic.atom?q=state+space",
        "/feeds/topic.rss?q=sparse+" + "a1" * 40,  # a token too long to be a term
    ],
)
def test_pages_and_feeds_of_the_hostile_day_answer_quickly_and_escape_markup(
    client: TestClient, path: str
) -> None:
    started = time.monotonic()
    answer = client.get(path)
    took = time.monotonic() - started

    assert answer.status_code == 200, answer.text[:500]
    assert took < PAGE_BUDGET_SECONDS
    assert "<script>alert" not in answer.text
    if path.startswith("/feeds/"):
        ElementTree.fromstring(answer.content)
    if path.startswith(("/archive/", "/feeds/daily")):
        assert REPAIRABLE_IDS[2] in answer.text  # the markup paper is there, as text
