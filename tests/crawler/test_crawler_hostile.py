"""Hostile upstream values (issue 14, item 1): each bad item is repaired or dropped with a
warning naming the day and the paper; an unreadable day is an error day; answers are bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import astuple
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import Engine
from sqlmodel import Session

from paperfeed.config import Settings
from paperfeed.crawler.api_items import parse_api_items
from paperfeed.crawler.client import make_client
from paperfeed.crawler.fetch import fetch_day
from paperfeed.crawler.pacing import Pacer
from paperfeed.crawler.polite import RetryPolicy, polite_get
from paperfeed.crawler.repair import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_BYTES,
    MAX_TITLE_CHARS,
)
from paperfeed.errors import SourceUnavailable
from paperfeed.jobs.crawl import crawl_days
from paperfeed.store.crawls import settled_days
from tests.support.fake_hf import FakeClock
from tests.support.hf_days import fixture_items, synthetic_days
from tests.support.hostile_day import (
    AFTER_DAY,
    DEEP_DAY,
    GOOD_IDS,
    HOSTILE_DAY,
    REPAIRABLE_IDS,
    UNSTORABLE_IDS,
    HostileHF,
    as_json,
    deep_json,
    hostile_hf,
    hostile_items,
)

ORDINARY_DAY = date(2026, 9, 29)


@pytest.fixture(scope="module")
def hostile_body() -> bytes:
    return as_json(hostile_items())


@pytest.fixture
def fake() -> Iterator[HostileHF]:
    with hostile_hf() as server:
        yield server


@pytest.fixture
def client(fake: HostileHF, tmp_path: Path) -> Iterator[httpx.Client]:
    with make_client(Settings(var_dir=tmp_path, hf_base_url=fake.url), timeout=5) as local:
        yield local


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)


def test_hostile_items_are_repaired_or_dropped_each_with_a_warning(hostile_body: bytes) -> None:
    parsed = parse_api_items(json.loads(hostile_body), day=HOSTILE_DAY)

    ids = [entry.paper.arxiv_id for entry in parsed.entries]
    assert sorted(ids) == sorted(GOOD_IDS + REPAIRABLE_IDS)
    assert parsed.skipped == len(UNSTORABLE_IDS)
    for paper in (entry.paper for entry in parsed.entries):
        texts = list(_strings(astuple(paper)[:-1])) + list(_strings(paper.raw))
        assert all(text.encode("utf-8") for text in texts)  # no lone surrogate left
        assert not any("\x00" in text for text in texts)
        assert len(paper.arxiv_id) <= MAX_ID_CHARS
        assert len(paper.title) <= MAX_TITLE_CHARS
        assert len(paper.title.encode()) <= MAX_TITLE_BYTES  # one mail line stays under 998
        assert len(paper.abstract) <= MAX_TEXT_CHARS
        assert len(json.dumps(paper.raw)) < 300_000
    # Every repair and every drop names the day and the paper, and quotes no hostile value.
    for hostile_id in (*REPAIRABLE_IDS[:2], *REPAIRABLE_IDS[3:]):
        assert any(f"{HOSTILE_DAY}: " in w and hostile_id in w for w in parsed.warnings)
    dropped = [w for w in parsed.warnings if w.endswith("; skipped")]
    assert len(dropped) == len(UNSTORABLE_IDS)
    assert all(w.startswith(f"{HOSTILE_DAY}: item ") and len(w) < 300 for w in dropped)
    assert all(w.isascii() or "…" in w for w in parsed.warnings)
    # Markup and bidi are text, kept as sent: escaping is the job of whatever shows them.
    markup = next(e.paper for e in parsed.entries if e.paper.arxiv_id == REPAIRABLE_IDS[2])
    assert "<script>" in markup.title
    assert "\u202e" in markup.title


def test_json_nested_100000_deep_makes_an_error_day_not_a_crash(
    fake: HostileHF, client: httpx.Client, clock: FakeClock
) -> None:
    result = fetch_day(client, DEEP_DAY, pacer=Pacer(clock=clock), today=date(2026, 12, 1))

    assert result.status == "error"
    assert "nested deeper than can be parsed" in (result.error or "")
    assert "data-props nests JSON deeper" in (result.error or "")


def test_an_answer_over_the_size_cap_is_refused_and_the_page_serves(
    fake: HostileHF, client: httpx.Client, clock: FakeClock
) -> None:
    fake.raw_api[ORDINARY_DAY] = b"[" + b" " * 3_000_000 + b"]"
    policy = RetryPolicy(max_response_bytes=1_000_000)

    result = fetch_day(client, ORDINARY_DAY, pacer=Pacer(clock=clock), policy=policy)

    assert (result.status, result.source, len(result.papers)) == ("ok", "props", 14)
    assert any("3,000,002 bytes (more than 1,000,000 bytes); refused" in w for w in result.warnings)
    # Refused at once: the same URL would answer the same, so it is not asked again.
    assert len([r for r in fake.seen if r.path == "/api/daily_papers"]) == 1


def test_a_streamed_answer_without_a_length_is_cut_off_at_the_cap(clock: FakeClock) -> None:
    chunks_sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(1000):  # 64 MB if it were all read
            chunks_sent.append(1)
            yield b" " * 65_536

    with respx.mock(base_url="https://huggingface.co") as router:
        router.get("/api/daily_papers").mock(return_value=httpx.Response(200, content=endless()))
        with make_client(Settings()) as client, pytest.raises(SourceUnavailable) as caught:
            polite_get(
                client,
                "/api/daily_papers",
                budget="api",
                pacer=Pacer(clock=clock),
                policy=RetryPolicy(max_response_bytes=1_000_000),
            )

    assert "over 1,000,000 bytes" in str(caught.value)
    assert len(chunks_sent) < 20


def test_deep_json_is_really_beyond_the_parser() -> None:
    # The fixture must keep hurting: if Python's parser ever took it, the test above would
    # prove nothing about the RecursionError path.
    with pytest.raises(RecursionError):
        json.loads(deep_json(100_000))


def test_an_unreadable_day_stays_unsettled_and_the_next_crawl_heals_it(
    fake: HostileHF, client: httpx.Client, engine: Engine
) -> None:
    days = [HOSTILE_DAY, DEEP_DAY, AFTER_DAY]
    today = date(2026, 10, 5)
    clock = FakeClock(start=datetime(2026, 10, 5, 12, tzinfo=UTC))  # every day has ended

    first = crawl_days(engine, client, days, settle_hours=0, pacer=Pacer(clock=clock), today=today)
    # Upstream mends the day (what HF does once its bug is fixed).
    del fake.raw_api[DEEP_DAY]
    del fake.pages[DEEP_DAY]
    fake.days[DEEP_DAY] = synthetic_days(fixture_items(), start=DEEP_DAY, count=1, per_day=4)[
        DEEP_DAY
    ]
    second = crawl_days(engine, client, days, settle_hours=0, pacer=Pacer(clock=clock), today=today)

    assert (first.ok, first.errors, first.settled) == (2, 1, 2)
    assert (second.ok, second.errors) == (3, 0)
    with Session(engine) as session:
        settled = set(settled_days(session, since=HOSTILE_DAY, until=today))
    assert settled == set(days)
