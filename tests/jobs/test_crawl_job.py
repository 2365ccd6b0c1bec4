"""Crawling into the store through real sockets: re-crawls, backfills, errors, settling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import stamina
from sqlalchemy import Engine, func
from sqlmodel import select
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.crawler.client import make_client
from paperfeed.crawler.pacing import Pacer
from paperfeed.jobs.crawl import crawl_days, due_days
from paperfeed.store.db import session_scope
from paperfeed.store.models import CrawlRun, Listing, ListingDay, Paper
from tests.support.fake_hf import FakeClock, FakeHF
from tests.support.hf_days import FIXTURES_DIR, fixture_items, synthetic_days

DAY = date(2026, 9, 28)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture
def fake() -> Iterator[FakeHF]:
    with FakeHF.from_fixtures(FIXTURES_DIR, hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def client(fake: FakeHF, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(var_dir=tmp_path / "var", hf_base_url=fake.url)
    with make_client(settings, timeout=0.5) as http:
        yield http


def _pacer(now: datetime) -> Pacer:
    return Pacer(clock=FakeClock(start=now))


def _counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        papers = session.exec(select(func.count()).select_from(Paper)).one()
        listings = session.exec(select(func.count()).select_from(Listing)).one()
        return papers, listings


def test_crawling_a_day_twice_changes_only_last_seen_and_upvotes(
    engine: Engine, fake: FakeHF, client: httpx.Client
) -> None:
    first_at = datetime(2026, 9, 28, 12, tzinfo=UTC)
    crawl_days(engine, client, [DAY], settle_hours=6, pacer=_pacer(first_at))
    with session_scope(engine) as session:
        before = {p.arxiv_id: (p.title, p.abstract, p.authors) for p in session.exec(select(Paper))}
        listing = session.exec(select(Listing).order_by(Listing.paper_id)).first()
        assert listing is not None
        watched, votes = listing.paper_id, listing.upvotes

    for item in fake.days[DAY]:
        item["paper"]["upvotes"] += 5
    second_at = first_at + timedelta(hours=3)
    summary = crawl_days(engine, client, [DAY], settle_hours=6, pacer=_pacer(second_at))

    assert summary.new == 0
    assert _counts(engine) == (28, 28)
    with session_scope(engine) as session:
        after = {p.arxiv_id: (p.title, p.abstract, p.authors) for p in session.exec(select(Paper))}
        again = session.exec(select(Listing).where(Listing.paper_id == watched)).one()
    assert after == before
    assert again.upvotes == votes + 5
    # The fake clock advances by the pacing waits, a fraction of a second.
    assert first_at <= again.first_seen_at < first_at + timedelta(minutes=1)
    assert second_at <= again.last_seen_at < second_at + timedelta(minutes=1)


def test_a_30_day_backfill_stores_every_paper_once(engine: Engine, tmp_path: Path) -> None:
    days = synthetic_days(
        fixture_items(), start=date(2026, 8, 1), count=30, per_day=20, carry_over=2
    )
    expected = {item["paper"]["id"] for items in days.values() for item in items}
    with (
        FakeHF(days=days) as fake,
        make_client(Settings(var_dir=tmp_path / "var", hf_base_url=fake.url), timeout=2) as http,
    ):
        summary = crawl_days(
            engine,
            http,
            [date(2026, 8, 1) + timedelta(days=n) for n in range(30)],
            settle_hours=6,
            pacer=_pacer(datetime(2026, 9, 10, tzinfo=UTC)),
        )
    assert summary.errors == 0
    assert summary.ok == len(days)
    assert summary.empty == 30 - len(days)  # the weekends
    papers, listings = _counts(engine)
    assert papers == len(expected)
    assert listings == sum(len(items) for items in days.values())
    with session_scope(engine) as session:
        settled = session.exec(
            select(func.count()).select_from(ListingDay).where(ListingDay.settled_at.is_not(None))  # type: ignore[union-attr]
        ).one()
    assert settled == 30


def test_an_error_day_is_recorded_and_keeps_what_was_stored(
    engine: Engine, fake: FakeHF, client: httpx.Client
) -> None:
    now = datetime(2026, 9, 28, 12, tzinfo=UTC)
    crawl_days(engine, client, [DAY], settle_hours=6, pacer=_pacer(now))
    fake.inject("500", count=50)
    summary = crawl_days(engine, client, [DAY], settle_hours=6, pacer=_pacer(now))

    assert summary.errors == 1
    assert _counts(engine) == (28, 28)
    with session_scope(engine) as session:
        runs = session.exec(select(CrawlRun).order_by(CrawlRun.id)).all()
        day = session.exec(select(ListingDay)).one()
    assert [r.status for r in runs] == ["ok", "error"]
    assert "2026-09-28" in (runs[1].error or "")
    assert day.status == "ok"
    assert day.paper_count == 28


def test_a_day_settles_only_when_crawled_hours_after_it_ended(
    engine: Engine, client: httpx.Client
) -> None:
    crawl_days(
        engine, client, [DAY], settle_hours=6, pacer=_pacer(datetime(2026, 9, 29, 5, tzinfo=UTC))
    )
    with session_scope(engine) as session:
        assert session.exec(select(ListingDay)).one().settled_at is None
    late = datetime(2026, 9, 29, 6, 30, tzinfo=UTC)
    crawl_days(engine, client, [DAY], settle_hours=6, pacer=_pacer(late))
    with session_scope(engine) as session:
        settled_at = session.exec(select(ListingDay)).one().settled_at
    assert settled_at is not None
    assert late <= settled_at < late + timedelta(minutes=1)


def test_due_days_are_the_window_plus_every_unsettled_day_of_the_catch_up_range(
    engine: Engine, client: httpx.Client
) -> None:
    today = date(2026, 10, 5)
    crawl_days(
        engine, client, [DAY], settle_hours=6, pacer=_pacer(datetime(2026, 9, 30, tzinfo=UTC))
    )
    days = due_days(engine, today=today, recrawl_days=3)
    assert DAY not in days
    assert days[-4:] == [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    assert date(2026, 9, 21) in days  # never crawled: the daemon was down
    assert date(2026, 9, 20) not in days  # older than the catch-up range


runner = CliRunner()


def test_crawl_cli_dry_run_prints_papers_and_writes_nothing(fake: FakeHF, tmp_path: Path) -> None:
    env = {"PAPERFEED_VAR_DIR": str(tmp_path / "var"), "PAPERFEED_HF_BASE_URL": fake.url}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(app, ["crawl", "--date", "2026-09-28", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "2026-09-28 daily: ok via api, 28 papers" in result.output
    assert "dry run: nothing written" in result.output
    listed = runner.invoke(app, ["crawl", "--date", "2026-09-28"], env=env)
    assert "28 new" in listed.output


def test_crawl_cli_exits_1_when_a_day_errored(fake: FakeHF, tmp_path: Path) -> None:
    env = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_HF_BASE_URL": fake.url,
        "PAPERFEED_HF_MAX_ATTEMPTS": "1",
        "PAPERFEED_HF_TIMEOUT_SECONDS": "0.5",
    }
    runner.invoke(app, ["db", "upgrade"], env=env)
    fake.inject("500", count=100)
    result = runner.invoke(app, ["crawl", "--date", "2026-09-28"], env=env)
    assert result.exit_code == 1
    assert "1 errors" in result.output
    assert "error: 2026-09-28" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "is not a date"),
        (["--date", "2026-09-28", "--since", "2026-09-01"], "cannot be combined"),
        (["--until", "2026-09-01"], "--until needs --since"),
        (["--since", "2026-09-10", "--until", "2026-09-01"], "after --until"),
    ],
)
def test_crawl_cli_bad_dates_get_one_clear_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    env = {"PAPERFEED_VAR_DIR": str(tmp_path / "var")}
    runner.invoke(app, ["db", "upgrade"], env=env)
    result = runner.invoke(app, ["crawl", *args], env=env)
    assert result.exit_code in (1, 2)
    assert message in result.output
