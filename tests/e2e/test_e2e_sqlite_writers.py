"""On SQLite, the daemon's crawl and compose survive a sign-up committed in mid-transaction.

Found by the two-weeks scenario: people signing up while the daemon's first crawl ran made
the crawl fail with "database is locked". The daemon serves the web app and runs its jobs in
one process on one SQLite file; a job transaction that reads, then writes (the crawl reads
which papers it knows before upserting them, compose reads the ledger before writing the
edition) cannot upgrade its read snapshot once another connection has committed a write, and
SQLite fails it at once instead of waiting. Such transactions must take the write lock at
BEGIN. Here a sign-up is committed right after the job's first read, deterministically.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawler.client import make_client
from paperfeed.crawler.pacing import Pacer
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.jobs.crawl import crawl_days
from paperfeed.store import migrate
from paperfeed.store.db import make_engine
from paperfeed.store.subscribers import create_subscriber
from tests.e2e.e2e_timeline import HFTimeline
from tests.support.fake_hf import FakeHF

DAY = date(2026, 10, 6)
NOW = datetime(2026, 10, 7, 23, tzinfo=UTC)


class SignUps:
    """Another connection that signs someone up, as the web app does, without waiting long."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, connect_args={"timeout": 0.2})
        self.landed = 0
        self.held_off: list[str] = []  # why each one that did not land was refused

    def sign_up(self) -> None:
        """Commit one sign-up now, or count that the job's write lock held it off."""
        n = self.landed + len(self.held_off)
        try:
            with Session(self.engine) as session:
                create_subscriber(
                    session, email=f"web{n}@example.org", interests="reasoning", now=NOW
                )
                session.commit()
        except OperationalError as exc:
            self.held_off.append(str(exc.orig))
        else:
            self.landed += 1


@contextlib.contextmanager
def sign_up_after_first(engine: Engine, statement: str, web: SignUps) -> Iterator[None]:
    """After the first statement on ``engine`` matching ``statement``, ``web`` signs up."""
    pattern = re.compile(statement, re.IGNORECASE | re.DOTALL)
    fired = False

    def after(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        nonlocal fired
        if not fired and pattern.search(sql):
            fired = True
            web.sign_up()

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
        assert fired, f"no statement matched {statement!r}"
    finally:
        event.remove(engine, "after_cursor_execute", after)


def _store(tmp_path: Path) -> tuple[Engine, str]:
    url = f"sqlite:///{tmp_path / 'paperfeed.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine, url


def test_a_crawl_saves_its_day_when_a_sign_up_lands_after_its_first_read(tmp_path: Path) -> None:
    engine, url = _store(tmp_path)
    web = SignUps(url)
    timeline = HFTimeline(late_days=(), late_after=timedelta(0))
    with FakeHF(days=timeline.snapshot(NOW)) as fake:
        settings = Settings(var_dir=tmp_path, database_url=url, hf_base_url=fake.url)
        with (
            make_client(settings) as client,
            sign_up_after_first(engine, r"^SELECT\b.*\bFROM paper\b", web),
        ):
            summary = crawl_days(
                engine, client, [DAY], settle_hours=6, pacer=Pacer(min_interval={}), today=DAY
            )
    assert (summary.ok, summary.errors, summary.new) == (1, 0, len(timeline.lists[DAY]))
    # Either the sign-up waited for the job's write lock (and gave up quickly here) or it
    # landed first; the job must have succeeded either way.
    assert web.landed + len(web.held_off) == 1
    assert all("locked" in reason for reason in web.held_off)
    engine.dispose()
    web.engine.dispose()


def test_compose_writes_its_editions_when_a_sign_up_lands_after_it_read_the_ledger(
    tmp_path: Path,
) -> None:
    engine, url = _store(tmp_path)
    web = SignUps(url)
    timeline = HFTimeline(late_days=(), late_after=timedelta(0))
    with FakeHF(days=timeline.snapshot(NOW)) as fake:
        settings = Settings(var_dir=tmp_path, database_url=url, hf_base_url=fake.url)
        with make_client(settings) as client:
            crawl_days(engine, client, [DAY], settle_hours=6, pacer=Pacer(min_interval={}))
    with Session(engine) as session:
        create_subscriber(
            session,
            email="reader@example.org",
            interests="reasoning",
            now=NOW - timedelta(days=30),
            send_hour=22,
            confirmed=True,
        )
        session.commit()
    with sign_up_after_first(engine, r"^SELECT\b.*\bFROM sentpaper\b", web):
        summary = compose_due(
            engine, now=NOW, policy=EditionPolicy(), corpus=CorpusCache.for_settings(settings)
        )
    assert (summary.editions, summary.deliveries) == (1, 1)
    # Either the sign-up waited for the job's write lock (and gave up quickly here) or it
    # landed first; the job must have succeeded either way.
    assert web.landed + len(web.held_off) == 1
    assert all("locked" in reason for reason in web.held_off)
    engine.dispose()
    web.engine.dispose()
