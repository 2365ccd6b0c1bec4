"""The crawler end to end through real sockets, against the fake Hugging Face on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from paperfeed.config import Settings
from paperfeed.crawler.client import USER_AGENT, make_client
from paperfeed.crawler.fetch import fetch_day, fetch_trending
from paperfeed.crawler.pacing import Pacer
from paperfeed.crawler.window import backfill_days
from tests.support.fake_hf import FakeClock, FakeHF
from tests.support.hf_days import fixture_items, synthetic_days

DAY = date(2026, 9, 28)


@pytest.fixture
def fake(hf_fixtures: Path) -> Iterator[FakeHF]:
    with FakeHF.from_fixtures(hf_fixtures, hang_seconds=2.0) as server:
        yield server


@pytest.fixture
def local(fake: FakeHF, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(var_dir=tmp_path / "var", hf_base_url=fake.url, hf_token="hf_local")
    with make_client(settings, timeout=0.5) as client:
        yield client


@pytest.fixture
def quick(clock: FakeClock) -> Pacer:
    """Real requests, fake waits: the pacing is measured on the clock, not slept."""
    return Pacer(clock=clock)


def test_the_captured_day_comes_whole_from_the_api(
    fake: FakeHF, local: httpx.Client, quick: Pacer
) -> None:
    result = fetch_day(local, DAY, pacer=quick)

    assert (result.status, result.source, len(result.papers), result.warnings) == (
        "ok",
        "api",
        28,
        (),
    )
    assert fake.seen[0].headers["User-Agent"] == USER_AGENT
    assert fake.seen[0].headers["Authorization"] == "Bearer hf_local"
    assert [(r.path, r.query["p"]) for r in fake.seen] == [
        ("/api/daily_papers", "0"),
        ("/api/daily_papers", "1"),
    ]


def test_a_future_day_shows_the_latest_list_and_is_not_published(
    fake: FakeHF, local: httpx.Client, quick: Pacer
) -> None:
    result = fetch_day(local, date(2026, 10, 2), pacer=quick, today=date(2026, 10, 1))

    assert (result.status, result.source) == ("not_published", "props")


def test_a_past_weekend_day_is_empty(fake: FakeHF, local: httpx.Client, quick: Pacer) -> None:
    result = fetch_day(local, date(2026, 9, 27), pacer=quick, today=date(2026, 10, 1))

    assert (result.status, result.source, result.error) == ("empty", "props", None)


def test_a_429_through_the_socket_waits_what_retry_after_asks(
    fake: FakeHF, local: httpx.Client, clock: FakeClock, quick: Pacer
) -> None:
    fake.inject("429", count=2, retry_after="7", path="/api/daily_papers")

    result = fetch_day(local, DAY, pacer=quick)

    assert (result.status, result.source, len(result.papers)) == ("ok", "api", 28)
    assert clock.sleeps[:2] == [7.0, 7.0]
    assert [r.fault for r in fake.seen[:3]] == ["429", "429", None]


def test_server_errors_and_a_hang_are_retried_until_the_api_answers(
    fake: FakeHF, local: httpx.Client, quick: Pacer
) -> None:
    fake.inject("500", count=2, path="/api/daily_papers")
    fake.inject("hang", count=1, path="/api/daily_papers")

    result = fetch_day(local, DAY, pacer=quick)

    assert (result.status, result.source, len(result.papers)) == ("ok", "api", 28)
    assert [r.fault for r in fake.seen[:4]] == ["500", "500", "hang", None]


def test_truncated_api_json_falls_back_to_the_real_page(
    fake: FakeHF, local: httpx.Client, quick: Pacer
) -> None:
    fake.inject("truncated_json", path="/api/daily_papers")

    result = fetch_day(local, DAY, pacer=quick)

    assert (result.status, result.source, result.claimed, len(result.papers)) == (
        "ok",
        "props",
        28,
        28,
    )


def test_with_the_api_down_and_no_props_the_cards_are_enriched_paper_by_paper(
    fake: FakeHF, local: httpx.Client, quick: Pacer
) -> None:
    fake.inject("500", count=5, path="/api/daily_papers")
    fake.inject("no_props", path="/papers/date/")

    result = fetch_day(local, DAY, pacer=quick)

    assert (result.status, result.source, len(result.papers)) == ("ok", "cards", 28)
    assert all(paper.abstract for paper in result.papers)
    assert len([r for r in fake.seen if r.path.startswith("/api/papers/")]) == 28


def test_a_page_missing_a_paper_from_its_data_is_an_error_day(
    fake: FakeHF, local: httpx.Client, quick: Pacer
) -> None:
    fake.inject("500", count=5, path="/api/daily_papers")
    fake.inject("short_props", path="/papers/date/2026-09-29")

    result = fetch_day(local, date(2026, 9, 29), pacer=quick)

    assert (result.status, result.claimed, result.papers) == ("error", 14, ())
    assert "shows 14 papers but its data yields 13" in (result.error or "")


def test_trending_comes_from_its_page(fake: FakeHF, local: httpx.Client, quick: Pacer) -> None:
    result = fetch_trending(local, pacer=quick)

    assert (result.status, result.kind, result.source, len(result.listings)) == (
        "ok",
        "trending",
        "props",
        14,
    )


def test_a_thirty_day_backfill_finds_every_weekday_list_once(
    hf_fixtures: Path, tmp_path: Path, clock: FakeClock
) -> None:
    start = date(2026, 8, 31)
    days = synthetic_days(fixture_items(hf_fixtures), start=start, count=30, per_day=40)
    with FakeHF(days=days) as fake:
        settings = Settings(var_dir=tmp_path, hf_base_url=fake.url)
        with make_client(settings) as client:
            pacer = Pacer(clock=clock)
            results = [
                fetch_day(client, day, pacer=pacer, today=start + timedelta(days=30))
                for day in backfill_days(start, start + timedelta(days=29))
            ]

    statuses = [r.status for r in results]
    assert statuses.count("ok") == len(days) == 22
    assert statuses.count("empty") == 8  # the weekends
    ids = [paper.arxiv_id for r in results for paper in r.papers]
    assert len(ids) == len(set(ids)) == 22 * 40
    assert pacer.requests["api"] == 22 * 2 + 8  # two API pages a weekday, one a weekend day
    assert pacer.requests["page"] == 8  # a weekend's empty API answer is checked on the page
