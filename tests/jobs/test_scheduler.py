"""The scheduler: fixed jobs, one leader per database, cron mode, a clean stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import stamina
from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.leader import LeaderLock
from paperfeed.scheduler import Jobs, build_scheduler, run_scheduler, tick
from paperfeed.store.db import session_scope
from paperfeed.store.models import CrawlRun, Delivery, Edition, Subscriber
from paperfeed.store.subscribers import create_subscriber
from tests.jobs.unpaced import unpaced
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import FIXTURES_DIR


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def test_jobs_have_fixed_ids_coalesce_and_run_one_at_a_time(
    settings: Settings, engine: Engine
) -> None:
    scheduler = build_scheduler(Jobs(settings, engine))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"crawl", "compose", "send", "housekeeping"}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time >= 3600


def test_only_one_scheduler_leads_a_database_and_a_standby_takes_over(
    settings: Settings, engine: Engine
) -> None:
    first, second = LeaderLock(engine, settings), LeaderLock(engine, settings)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_the_crawl_is_due_in_cron_mode_only_when_the_schedule_fired_since_the_last_run(
    settings: Settings, engine: Engine
) -> None:
    now = datetime(2026, 9, 28, 10, 30, tzinfo=UTC)  # a Monday; the schedule fires hourly
    jobs = Jobs(settings, engine, now=lambda: now)
    assert jobs.crawl_is_due()
    with session_scope(engine) as session:
        session.add(
            CrawlRun(
                listing_date=date(2026, 9, 28), started_at=now - timedelta(minutes=20), status="ok"
            )
        )
    assert not jobs.crawl_is_due()
    later = Jobs(settings, engine, now=lambda: now + timedelta(minutes=40))
    assert later.crawl_is_due()


def test_a_tick_crawls_composes_and_a_second_tick_adds_nothing(
    tmp_path: object, engine: Engine, database_url: str
) -> None:
    now = datetime(2026, 9, 30, 9, 0, tzinfo=UTC)
    with FakeHF.from_fixtures(FIXTURES_DIR) as fake:
        settings = Settings(
            var_dir=f"{tmp_path}/var",
            database_url=database_url,  # type: ignore[arg-type]
            hf_base_url=fake.url,
            recrawl_days=3,
        )
        with session_scope(engine) as session:
            create_subscriber(
                session,
                email="a@example.com",
                interests="language models",
                now=now - timedelta(days=3),
                confirmed=True,
                send_hour=8,
            )
        jobs = Jobs(settings, engine, now=lambda: now, make_pacer=unpaced)
        first = tick(jobs)
        second = tick(jobs)
    assert first.ran == ["crawl", "compose", "send"]
    assert second.ran == ["compose", "send"]
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Edition)).one() == 1
        delivery = session.exec(select(Delivery)).one()
    assert delivery.status == "sent"
    assert len(list(Path(f"{tmp_path}/var/outbox").glob("*.eml"))) == 1


def test_the_scheduler_stops_within_seconds_even_mid_crawl(
    tmp_path: object, engine: Engine, database_url: str
) -> None:
    with FakeHF.from_fixtures(FIXTURES_DIR, hang_seconds=1.0) as fake:
        fake.inject("hang", count=1000)
        settings = Settings(
            var_dir=f"{tmp_path}/var",
            database_url=database_url,  # type: ignore[arg-type]
            hf_base_url=fake.url,
            hf_timeout_seconds=0.5,
        )
        jobs = Jobs(settings, engine, now=lambda: datetime(2026, 9, 27, 12, tzinfo=UTC))
        worker = threading.Thread(target=run_scheduler, args=(jobs,), kwargs={"poll": 0.1})
        worker.start()
        time.sleep(1.5)  # the crawl job is under way, every request hanging
        started = time.monotonic()
        jobs.stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert time.monotonic() - started < 10


def test_housekeeping_expires_unconfirmed_signups_and_old_crawl_logs(
    settings: Settings, engine: Engine
) -> None:
    now = datetime(2026, 9, 28, 3, 17, tzinfo=UTC)
    with session_scope(engine) as session:
        create_subscriber(
            session, email="old@example.com", interests="x", now=now - timedelta(days=3)
        )
        create_subscriber(
            session, email="new@example.com", interests="x", now=now - timedelta(hours=1)
        )
        create_subscriber(
            session,
            email="kept@example.com",
            interests="x",
            now=now - timedelta(days=9),
            confirmed=True,
        )
        session.add(
            CrawlRun(
                listing_date=date(2026, 5, 1), started_at=now - timedelta(days=120), status="ok"
            )
        )
        session.add(
            CrawlRun(
                listing_date=date(2026, 9, 27), started_at=now - timedelta(days=1), status="ok"
            )
        )
    # Their confirmation mails wait in the file outbox (no SMTP configured).
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    for name in ("old", "new", "kept"):
        mail = f"To: {name}@example.com\r\nSubject: confirm\r\n\r\nhello\r\n"
        (settings.outbox_dir / f"{name}.eml").write_bytes(mail.encode())
    Jobs(settings, engine, now=lambda: now).housekeeping()
    with session_scope(engine) as session:
        emails = {s.email for s in session.exec(select(Subscriber))}
        runs = session.exec(select(func.count()).select_from(CrawlRun)).one()
    assert emails == {"new@example.com", "kept@example.com"}
    assert runs == 1
    assert sorted(p.name for p in settings.outbox_dir.glob("*.eml")) == ["kept.eml", "new.eml"]
