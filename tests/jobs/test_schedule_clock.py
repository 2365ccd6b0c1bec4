"""The scheduler's jobs against a controlled clock: a day's cycle, DST days, outages, two leaders.

Jobs take their clock as ``now``; the crawl also reads the wall clock (when a day settles), so
the full-cycle test moves the whole process with time-machine and lets the jobs read it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import stamina
import time_machine
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.leader import LeaderLock
from paperfeed.scheduler import Jobs, build_scheduler, tick
from paperfeed.store import migrate
from paperfeed.store.db import make_engine
from tests.jobs.unpaced import unpaced
from tests.support.cycle_samples import (
    add_subscriber,
    delivery_statuses,
    editions,
    outbox_recipients,
    running_sink,
    store_settled_days,
)
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import fixture_items, synthetic_days

STEP = timedelta(minutes=5)
JOINED = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment


def test_a_days_cycle_sends_each_time_zone_one_edition_after_its_local_send_hour(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    day = date(2026, 10, 7)  # a Wednesday, summer time in Berlin and Los Angeles
    start = datetime.combine(day, datetime.min.time(), UTC)
    zones = {
        "tokyo@example.com": "Asia/Tokyo",  # 08:00 JST = 23:00 UTC the day before
        "berlin@example.com": "Europe/Berlin",  # 08:00 CEST = 06:00 UTC
        "la@example.com": "America/Los_Angeles",  # 08:00 PDT = 15:00 UTC
    }
    for email, zone in zones.items():
        add_subscriber(engine, email, timezone=zone, send_hour=8, joined=JOINED)
    listed = synthetic_days(fixture_items(), start=day - timedelta(days=14), count=15, per_day=12)
    with FakeHF(days=listed) as fake:
        settings = Settings(
            var_dir=tmp_path / "var",
            database_url=database_url,  # type: ignore[arg-type]
            hf_base_url=fake.url,
            recrawl_days=1,
            crawl_schedule="0 */3 * * *",
            settle_hours=6,
        )
        outbox = settings.outbox_dir
        with time_machine.travel(start, tick=False) as traveller:
            # The real clock, moved by time-machine. Crawl pacing is tested elsewhere; here it
            # would only sleep between local requests.
            jobs = Jobs(settings, engine, make_pacer=unpaced)
            tick(jobs)  # yesterday's editions, still within max lateness: the baseline
            before = set(editions(engine))
            sent_before = outbox_recipients(outbox)
            first_seen: dict[str, datetime] = {}
            moment = start
            while moment < start + timedelta(days=1):
                moment += timedelta(minutes=15)
                traveller.move_to(moment)
                tick(jobs)
                for email, _ in set(editions(engine)) - before:
                    first_seen.setdefault(email, moment)
    new = Counter(email for email, _ in set(editions(engine)) - before)
    assert new == dict.fromkeys(zones, 1)
    for email, zone in zones.items():
        local = first_seen[email].astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (8, 0), f"{email} got its edition at {local}"
    local_dates = {email: d for email, d in set(editions(engine)) - before}
    assert local_dates == {
        "tokyo@example.com": day + timedelta(days=1),
        "berlin@example.com": day,
        "la@example.com": day,
    }
    sent_today = outbox_recipients(outbox) - sent_before
    assert sent_today == dict.fromkeys(zones, 1)
    assert delivery_statuses(engine)["sent"] == len(before) + 3


# (zone, the DST day, a send hour that is skipped or repeated that day, the UTC send moment)
DST_DAYS = [
    pytest.param(
        "Europe/Berlin",
        date(2026, 3, 29),
        2,
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        id="berlin-spring",
    ),
    pytest.param(
        "Europe/Berlin",
        date(2026, 10, 25),
        2,
        datetime(2026, 10, 25, 0, tzinfo=UTC),
        id="berlin-fall",
    ),
    pytest.param(
        "America/New_York", date(2026, 3, 8), 2, datetime(2026, 3, 8, 7, tzinfo=UTC), id="ny-spring"
    ),
    pytest.param(
        "America/New_York", date(2026, 11, 1), 1, datetime(2026, 11, 1, 5, tzinfo=UTC), id="ny-fall"
    ),
]


@pytest.mark.parametrize(("zone", "day", "send_hour", "expected"), DST_DAYS)
def test_a_send_hour_skipped_or_repeated_by_dst_sends_exactly_once(
    tmp_path: Path, zone: str, day: date, send_hour: int, expected: datetime
) -> None:
    engine = _sqlite(tmp_path)
    store_settled_days(engine, day - timedelta(days=8), days=7)
    add_subscriber(engine, "dst@example.com", timezone=zone, send_hour=send_hour, joined=JOINED)
    settings = Settings(var_dir=tmp_path / "var", database_url=str(engine.url))  # type: ignore[arg-type]
    clock = Clock(expected - timedelta(hours=3))  # yesterday's edition is past max lateness
    jobs = Jobs(settings, engine, now=clock)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(zone))
    composed_at: list[datetime] = []
    while clock.moment < end:
        count = len(editions(engine))
        jobs.compose()
        jobs.deliver()
        if len(editions(engine)) > count:
            composed_at.append(clock.moment)
        clock.moment += STEP
    assert editions(engine) == [("dst@example.com", day)]
    assert composed_at == [expected], "composed at the wrong moment, or more than once"
    assert delivery_statuses(engine) == {"sent": 1}
    assert outbox_recipients(settings.outbox_dir) == {"dst@example.com": 1}
    engine.dispose()


def test_a_three_day_outage_is_caught_up_by_one_edition_not_three(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    store_settled_days(engine, date(2026, 9, 20), days=12)
    add_subscriber(engine, "r@example.com", timezone="UTC", send_hour=8, joined=JOINED)
    settings = Settings(var_dir=tmp_path / "var", database_url=str(engine.url))  # type: ignore[arg-type]
    clock = Clock(datetime(2026, 9, 28, 8, 5, tzinfo=UTC))
    jobs = Jobs(settings, engine, now=clock)
    jobs.compose()
    jobs.deliver()
    clock.moment = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)  # back after three send hours
    for _ in range(12):  # an hour of passes after the outage
        jobs.compose()
        jobs.deliver()
        clock.moment += STEP
    assert editions(engine) == [
        ("r@example.com", date(2026, 9, 28)),
        ("r@example.com", date(2026, 10, 1)),
    ]
    assert outbox_recipients(settings.outbox_dir) == {"r@example.com": 2}
    engine.dispose()


def test_after_an_outage_what_is_past_max_lateness_is_not_sent(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    store_settled_days(engine, date(2026, 9, 20), days=12)
    add_subscriber(engine, "r@example.com", timezone="UTC", send_hour=8, joined=JOINED)
    settings = Settings(var_dir=tmp_path / "var", database_url=str(engine.url))  # type: ignore[arg-type]
    policy = EditionPolicy.from_settings(settings)
    clock = Clock(datetime(2026, 9, 28, 8, 5, tzinfo=UTC))
    jobs = Jobs(settings, engine, now=clock)
    jobs.compose()  # composed, then the sender was down for 22 hours
    clock.moment = datetime(2026, 9, 29, 6, 5, tzinfo=UTC)
    jobs.deliver()
    assert delivery_statuses(engine) == {"expired": 1}
    # Back at 07:30 on Oct 1: Sep 30's 08:00 is 23.5 h ago, Oct 1's not yet come.
    late = compose_due(
        engine, now=datetime(2026, 10, 1, 7, 30, tzinfo=UTC), policy=policy, corpus=CorpusCache()
    )
    assert (late.editions, late.too_late) == (0, 1)
    clock.moment = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    jobs.compose()
    jobs.deliver()
    assert editions(engine) == [
        ("r@example.com", date(2026, 9, 28)),
        ("r@example.com", date(2026, 10, 1)),
    ]
    assert delivery_statuses(engine) == {"expired": 1, "sent": 1}
    assert outbox_recipients(settings.outbox_dir) == {"r@example.com": 1}
    engine.dispose()


@pytest.mark.postgres
def test_two_schedulers_on_one_postgres_database_make_and_send_each_edition_once(
    tmp_path: Path, postgres_url: str
) -> None:
    setup = make_engine(postgres_url)
    migrate.upgrade(setup)
    store_settled_days(setup, date(2026, 9, 18), days=10)
    expected = []
    zones = ["Asia/Tokyo", "Europe/Berlin", "America/Los_Angeles", "UTC"]
    for n in range(RACERS):
        # Every send hour passed 1 to 18 hours before the race: all of them are due at once.
        local = (RACE_AT - timedelta(hours=1 + n % 18)).astimezone(ZoneInfo(zones[n % 4]))
        email = f"r{n:03d}@example.com"
        add_subscriber(setup, email, timezone=zones[n % 4], send_hour=local.hour, joined=JOINED)
        expected.append((email, local.date()))
    setup.dispose()
    with running_sink() as sink:
        engines = [make_engine(postgres_url) for _ in range(2)]
        settings = Settings(
            var_dir=tmp_path / "var",
            database_url=postgres_url,  # type: ignore[arg-type]
            smtp_url=sink.url,
            send_batch_size=7,  # many small claims, so the two senders interleave
        )
        failures = _race(settings, engines)
        made = editions(engines[0])
        statuses = delivery_statuses(engines[0])
        for engine in engines:
            engine.dispose()
    assert not failures, failures
    assert made == sorted(expected)
    assert statuses == {"sent": RACERS}
    assert sink.duplicates() == {}
    assert len(sink.message_ids) == RACERS


RACERS = 120
RACE_AT = datetime(2026, 9, 28, 12, 0, tzinfo=UTC)


def _race(settings: Settings, engines: list[Engine]) -> list[BaseException]:
    """Two schedulers, each on its own engine, composing and sending at the same moments."""
    barrier = threading.Barrier(len(engines))
    failures: list[BaseException] = []

    def scheduler(engine: Engine) -> None:
        clock = Clock(RACE_AT)
        jobs = Jobs(settings, engine, now=clock)
        try:
            for k in range(3):
                clock.moment = RACE_AT + k * STEP
                barrier.wait(timeout=30)  # both pass at the same moment, as two daemons would
                jobs.compose()
                barrier.wait(timeout=30)
                jobs.deliver()
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=scheduler, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


@pytest.mark.postgres
def test_two_schedulers_racing_for_postgres_leadership_get_one_leader(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=postgres_url)  # type: ignore[arg-type]
    engines = [make_engine(postgres_url) for _ in range(2)]
    locks = [LeaderLock(e, settings) for e in engines]
    for _ in range(5):
        barrier = threading.Barrier(2)
        taken: dict[int, bool] = {}

        def race(n: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(timeout=10)
            taken[n] = locks[n].try_acquire()

        threads = [threading.Thread(target=race, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(taken.values()) == [False, True]
        leader = locks[0] if taken[0] else locks[1]
        standby = locks[1] if taken[0] else locks[0]
        assert not standby.try_acquire()
        leader.release()
        assert standby.try_acquire(), "the standby did not take over"
        standby.release()
    for engine in engines:
        engine.dispose()


@dataclass
class RecordingJobs(Jobs):
    """Jobs that only note the order they ran in."""

    ran: list[str] = field(default_factory=list)

    def crawl(self) -> None:
        self.ran.append("crawl")

    def compose(self) -> None:
        self.ran.append("compose")

    def deliver(self) -> None:
        self.ran.append("send")


def test_the_first_compose_waits_for_the_first_crawl_and_a_send_follows_at_once(
    settings: Settings, engine: Engine
) -> None:
    jobs = RecordingJobs(settings, engine)
    found = {job.id: job for job in build_scheduler(jobs).get_jobs()}
    found["compose"].func()  # the interval fired while the first crawl is still running
    found["crawl"].func()
    found["compose"].func()
    found["crawl"].func()
    assert jobs.ran == ["crawl", "compose", "send", "compose", "crawl"]


def _sqlite(tmp_path: Path) -> Engine:
    (tmp_path / "var").mkdir(exist_ok=True)
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}")
    migrate.upgrade(engine)
    return engine
