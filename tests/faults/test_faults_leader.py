"""One leader across a PostgreSQL restart (DESIGN, "One leader").

A restart ends the session that held the scheduler's advisory lock, and the lock with it. On a
private cluster (the shared server is never restarted) these tests prove that a lock lost so
is let go without an error and is free for a standby; that a leading scheduler notices the loss
while the database is down, pauses, says so once however long it waits, and takes the lock
again when it can; that if a standby got the lock first the old leader stands by and leads
again only once the standby stops; that at every observation at most one scheduler believes it
leads, the one PostgreSQL says holds the lock, and every job ran while its scheduler held it;
and that a real ``paperfeed run`` stopped with SIGTERM right after a restart exits 0 without a
traceback. Which scheduler wins the lock after a restart is made certain, not left to a race,
by refusing logins to the other's database role until the winner holds it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from paperfeed.config import Settings
from paperfeed.leader import LOCK_KEY, LeaderLock
from paperfeed.scheduler import Jobs, run_scheduler
from paperfeed.store import migrate
from paperfeed.store.db import make_engine
from tests.faults.faults_process_postgres import PrivatePostgres, private_postgres
from tests.faults.faults_process_samples import kill_hard, logged, process_env, start, wait_for
from tests.support.cycle_samples import store_settled_days
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import fixture_items, synthetic_days
from tests.support.ports import free_port

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ROLES = ("leader_a", "leader_b", "standby", "daemon")
POLL = 0.1  # the in-process schedulers' lock check and retry interval, in seconds
DOWN = "(database down)"


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[PrivatePostgres]:
    """A private cluster with one superuser role per scheduler, so one can be kept out."""
    with private_postgres() as database:
        for role in ROLES:
            _admin(database, f"CREATE ROLE {role} LOGIN SUPERUSER")
        yield database


@pytest.fixture
def cluster(private_cluster: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The private cluster, left running and open to every role whatever the test did."""
    yield private_cluster
    if not private_cluster.running():
        private_cluster.start()
    for role in ROLES:
        _allow_login(private_cluster, role, True)


def _admin(database: PrivatePostgres, statement: str) -> None:
    engine = make_engine(database.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _role_url(database: PrivatePostgres, role: str) -> str:
    # The application name lets PostgreSQL say which scheduler holds the lock.
    return f"postgresql+psycopg://{role}@127.0.0.1:{database.port}/postgres?application_name={role}"


def _allow_login(database: PrivatePostgres, role: str, allowed: bool) -> None:
    _admin(database, f"ALTER ROLE {role} {'LOGIN' if allowed else 'NOLOGIN'}")


class LockHolder:
    """Asks PostgreSQL, on a fresh connection each time, whose session holds the leader lock."""

    def __init__(self, database: PrivatePostgres) -> None:
        self.engine = make_engine(database.url, poolclass=NullPool)

    def __call__(self) -> str | None:
        try:
            with self.engine.connect() as connection:
                names = connection.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                        " AND l.objid = CAST(:k AS bigint)::oid"
                    ),
                    {"k": LOCK_KEY},
                ).all()
        except OperationalError:
            return DOWN
        assert len(names) <= 1, names
        return str(names[0][0]) if names else None


class ObservedLock(LeaderLock):
    """The leader lock, noting how each attempt to take it ended."""

    def __init__(self, name: str, engine: Engine, settings: Settings) -> None:
        super().__init__(engine, settings)
        self.name = name
        self.tries: list[str] = []

    def try_acquire(self) -> bool:
        try:
            taken = super().try_acquire()
        except Exception:
            self.tries.append("unreachable")
            raise
        self.tries.append("taken" if taken else "refused")
        return taken

    def tried_since(self, mark: int, outcome: str) -> int:
        """How many attempts after the first ``mark`` ended in ``outcome``."""
        return self.tries[mark:].count(outcome)


@dataclass
class RecordingJobs(Jobs):
    """Jobs that note, each time they run, who PostgreSQL says holds the lock then."""

    holder: LockHolder | None = None
    runs: list[tuple[str, str | None]] = field(default_factory=list)

    def _ran(self, job: str) -> None:
        assert self.holder is not None
        self.runs.append((job, self.holder()))

    def crawl(self) -> None:
        self._ran("crawl")

    def compose(self) -> None:
        self._ran("compose")

    def deliver(self) -> None:
        self._ran("send")

    def holders(self) -> set[str | None]:
        """Who held the lock whenever one of these jobs ran."""
        return {holder for _, holder in self.runs}


@dataclass
class Scheduler:
    """``run_scheduler`` in a thread of this test, as a daemon would run it."""

    lock: ObservedLock
    jobs: RecordingJobs
    engine: Engine
    failures: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.lock.name

    def start(self) -> None:
        def run() -> None:
            structlog.contextvars.bind_contextvars(scheduler=self.name)
            try:
                run_scheduler(self.jobs, poll=POLL, lock=self.lock)
            except BaseException as exc:
                self.failures.append(exc)

        self.thread = threading.Thread(target=run, name=self.name)
        self.thread.start()

    def stop(self) -> None:
        self.jobs.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), f"{self.name} did not stop"
        self.engine.dispose()


def _scheduler(
    database: PrivatePostgres, role: str, tmp_path: Path, holder: LockHolder
) -> Scheduler:
    url = _role_url(database, role)
    settings = Settings(var_dir=tmp_path / role, database_url=url)
    engine = make_engine(url)
    jobs = RecordingJobs(settings, engine, holder=holder)
    return Scheduler(ObservedLock(role, engine, settings), jobs, engine)


@dataclass
class Observer:
    """Samples, again and again, who believes it leads, then whom PostgreSQL says holds the
    lock, labelled with the phase the test is in.

    Beliefs are read in the order of ``schedulers``: a live handover between the two reads
    looks like two leaders unless the one taking over is listed first (a takeover across a
    restart is no such handover: the old leader stopped believing while the database was
    down). The test changes the phase before it acts, so a sample taken across a change is
    labelled with both phases and belongs to neither.
    """

    schedulers: list[Scheduler]
    holder: LockHolder
    phase: str = "before"
    samples: list[tuple[str, tuple[str, ...], str | None]] = field(default_factory=list)
    first_reads: list[int] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.wait(0.005):
            phase = self.phase
            believers = tuple(s.name for s in self.schedulers if s.lock.held)
            holder = self.holder()
            # A scheduler may stop believing and release while PostgreSQL is asked (the
            # handover's stop): it then reads as a believer PostgreSQL does not name. Only
            # who believed on both sides of the question is held to PostgreSQL's answer;
            # two at once is checked on the first read (most_believers).
            still = {s.name for s in self.schedulers if s.lock.held}
            self.first_reads.append(len(believers))
            if self.phase != phase:
                phase = f"{phase} to {self.phase}"
            self.samples.append((phase, tuple(n for n in believers if n in still), holder))

    def in_phase(self, phase: str) -> list[tuple[tuple[str, ...], str | None]]:
        return [(believers, holder) for p, believers, holder in self.samples if p == phase]

    def most_believers(self) -> int:
        """The most schedulers that believed they led at one observation, over all of them."""
        return max(self.first_reads)


@contextlib.contextmanager
def observing(schedulers: list[Scheduler], holder: LockHolder) -> Iterator[Observer]:
    """An observer sampling in a thread of its own while the block runs."""
    observer = Observer(schedulers, holder)
    thread = threading.Thread(target=observer.run, name="observer")
    thread.start()
    try:
        yield observer
    finally:
        observer.done.set()
        thread.join(timeout=10)


def assert_led_by(observer: Observer, phase: str, leader: str) -> None:
    """In ``phase`` never two believe they lead; from when ``leader`` first does, it alone
    does, to the end of the phase, and PostgreSQL says its session holds the lock."""
    samples = observer.in_phase(phase)
    assert all(len(believers) <= 1 for believers, _ in samples), samples
    led = [n for n, (believers, _) in enumerate(samples) if believers]
    assert led, f"nobody led in phase {phase!r}"
    # Believers are read before PostgreSQL is asked, so a believer must be the holder.
    assert set(samples[led[0] :]) == {((leader,), leader)}, samples[led[0] :]


@pytest.fixture
def events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every log event, at every level, with the name of the scheduler thread that logged it."""
    capture = structlog.testing.LogCapture()
    before = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    try:
        yield capture.entries
    finally:
        structlog.configure(**before)


def said(events: list[MutableMapping[str, Any]], scheduler: str) -> list[str]:
    """The events a scheduler's own thread logged, in order."""
    return [e["event"] for e in events if e.get("scheduler") == scheduler]


def test_a_lock_lost_in_a_restart_is_released_quietly_and_is_free_for_a_standby(
    cluster: PrivatePostgres, tmp_path: Path, events: list[MutableMapping[str, Any]]
) -> None:
    holder = LockHolder(cluster)
    leader = _scheduler(cluster, "leader_a", tmp_path, holder)
    standby = _scheduler(cluster, "leader_b", tmp_path, holder)
    try:
        assert leader.lock.try_acquire()
        assert leader.lock.confirm()
        assert not standby.lock.try_acquire()
        assert holder() == "leader_a"

        cluster.stop()
        cluster.start()
        leader.lock.release()  # its session died with the restart: no error, nothing held
        assert not leader.lock.held
        assert standby.lock.try_acquire()
        assert holder() == "leader_b"
        assert not leader.lock.confirm()
        standby.lock.release()
        assert holder() is None
    finally:
        for scheduler in (leader, standby):
            scheduler.engine.dispose()
    skipped = [e for e in events if e["event"] == "leader.release_skipped"]
    assert [e["log_level"] for e in skipped] == ["info"]
    assert not [e for e in events if e["log_level"] in ("error", "critical")], events


def test_the_leader_takes_its_lock_again_after_a_restart_and_the_standby_keeps_waiting(
    cluster: PrivatePostgres, tmp_path: Path, events: list[MutableMapping[str, Any]]
) -> None:
    holder = LockHolder(cluster)
    a = _scheduler(cluster, "leader_a", tmp_path, holder)
    b = _scheduler(cluster, "leader_b", tmp_path, holder)
    a.start()
    try:
        wait_for(lambda: len(a.jobs.runs) == 3, 10, "leader_a led and ran its first pass")
        b.start()
        try:
            wait_for(lambda: "refused" in b.lock.tries, 10, "leader_b found the lock taken")
            with observing([a, b], holder) as observer:
                wait_for(lambda: len(observer.samples) >= 5, 10, "the observer saw leader_a lead")
                # leader_b cannot log in until leader_a had its chance: leader_a must win.
                _allow_login(cluster, "leader_b", False)
                observer.phase = "down"
                cluster.stop()
                wait_for(lambda: not a.lock.held, 10, "leader_a noticed its lock was gone")
                mark = len(a.lock.tries)
                wait_for(
                    lambda: a.lock.tried_since(mark, "unreachable") >= 3,
                    10,
                    "leader_a retried the stopped database",
                )
                cluster.start()
                observer.phase = "after"
                wait_for(lambda: a.lock.held, 10, "leader_a took its lock again")
                mark = len(b.lock.tries)
                _allow_login(cluster, "leader_b", True)
                wait_for(
                    lambda: b.lock.tried_since(mark, "refused") >= 2,
                    10,
                    "leader_b tried again and found the lock taken",
                )
        finally:
            b.stop()
    finally:
        a.stop()
    assert holder() is None  # both stopped: the lock is free
    assert a.failures == b.failures == []

    assert observer.most_believers() == 1
    assert set(observer.in_phase("before")) == {(("leader_a",), "leader_a")}
    assert_led_by(observer, "after", "leader_a")
    assert a.jobs.holders() == {"leader_a"}
    assert b.jobs.runs == []
    # Lost, one line while the database was down however often it retried, then back.
    assert said(events, "leader_a") == [
        "leader.acquired",
        "scheduler.started",
        "leader.lock_lost",
        "leader.database_unavailable",
        "leader.reacquired",
        "scheduler.stopped",
    ]
    assert "leader.acquired" not in said(events, "leader_b")


def test_a_standby_that_took_the_lock_during_a_restart_leads_and_the_old_leader_stands_by(
    cluster: PrivatePostgres, tmp_path: Path, events: list[MutableMapping[str, Any]]
) -> None:
    holder = LockHolder(cluster)
    a = _scheduler(cluster, "leader_a", tmp_path, holder)
    b = _scheduler(cluster, "leader_b", tmp_path, holder)
    a.start()
    try:
        wait_for(lambda: len(a.jobs.runs) == 3, 10, "leader_a led and ran its first pass")
        b.start()
        try:
            wait_for(lambda: "refused" in b.lock.tries, 10, "leader_b found the lock taken")
            with observing([a, b], holder) as observer:
                wait_for(lambda: len(observer.samples) >= 5, 10, "the observer saw leader_a lead")
                # leader_a cannot log in until leader_b took the lock: leader_b must win.
                _allow_login(cluster, "leader_a", False)
                observer.phase = "down"
                cluster.stop()
                wait_for(lambda: not a.lock.held, 10, "leader_a noticed its lock was gone")
                cluster.start()
                observer.phase = "after"
                wait_for(
                    lambda: len(b.jobs.runs) == 3, 10, "leader_b took over and ran a first pass"
                )
                mark = len(a.lock.tries)
                wait_for(
                    lambda: a.lock.tried_since(mark, "unreachable") >= 3,
                    10,
                    "leader_a kept trying to reach the database",
                )
                _allow_login(cluster, "leader_a", True)
                wait_for(
                    lambda: "leader.lost" in said(events, "leader_a"), 10, "leader_a stood down"
                )
                mark = len(a.lock.tries)
                wait_for(
                    lambda: a.lock.tried_since(mark, "refused") >= 2,
                    10,
                    "leader_a waited as a standby",
                )
                observer.phase = "handover"
                b.stop()
                wait_for(
                    lambda: len(a.jobs.runs) == 6, 10, "leader_a led again and ran a first pass"
                )
        finally:
            if b.thread is not None and b.thread.is_alive():
                b.stop()
    finally:
        a.stop()
    assert a.failures == b.failures == []

    assert observer.most_believers() == 1
    assert set(observer.in_phase("before")) == {(("leader_a",), "leader_a")}
    assert_led_by(observer, "after", "leader_b")
    assert_led_by(observer, "handover", "leader_a")
    # Every pass ran while its own scheduler held the lock; the old leader ran none for
    # leader_b's term, only a fresh first pass once it led again.
    assert a.jobs.holders() == {"leader_a"}
    assert b.jobs.holders() == {"leader_b"}
    assert [job for job, _ in a.jobs.runs] == ["crawl", "compose", "send"] * 2
    assert said(events, "leader_a") == [
        "leader.acquired",
        "scheduler.started",
        "leader.lock_lost",
        "leader.database_unavailable",
        "leader.lost",
        "scheduler.stopped",
        "leader.waiting",
        "leader.acquired",
        "scheduler.started",
        "scheduler.stopped",
    ]


def test_a_daemon_stopped_right_after_a_restart_exits_0_without_a_traceback(
    cluster: PrivatePostgres, tmp_path: Path
) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    admin = make_engine(cluster.url)
    try:
        migrate.upgrade(admin)
        # Earlier crawls settled the days before: the first pass crawls only two days.
        store_settled_days(admin, yesterday - timedelta(days=13), days=13)
    finally:
        admin.dispose()
    days = synthetic_days(fixture_items(), start=yesterday, count=1, per_day=15, weekends=True)
    holder = LockHolder(cluster)
    standby_url = _role_url(cluster, "standby")
    standby_engine = make_engine(standby_url)
    standby = LeaderLock(
        standby_engine, Settings(var_dir=tmp_path / "standby", database_url=standby_url)
    )
    log = tmp_path / "daemon.log"
    try:
        with FakeHF(days=days) as fake:
            env = process_env(
                tmp_path / "var",
                database_url=_role_url(cluster, "daemon"),
                hf_base_url=fake.url,
                recrawl_days="1",
            )
            daemon = start(["run", "--port", str(free_port())], env, log)
            try:
                wait_for(
                    lambda: bool(logged(log, "compose.done")) or daemon.poll() is not None,
                    30,
                    "the daemon led and composed",
                )
                assert daemon.poll() is None, log.read_text(errors="replace")[-3000:]
                assert holder() == "daemon"
                assert not standby.try_acquire()

                cluster.stop()
                cluster.start()
                # The daemon checks its lock every few seconds; the standby asks at once.
                took_over = standby.try_acquire()
                daemon.send_signal(signal.SIGTERM)
                code = daemon.wait(timeout=30)
            finally:
                if daemon.poll() is None:
                    kill_hard(daemon)
        output = log.read_text(errors="replace")
        assert code == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        assert logged(log, "scheduler.stopped"), output[-3000:]
        # One leader after the stop: the standby, whether it won the race or takes it now.
        assert took_over or standby.try_acquire()
        assert holder() == "standby"
    finally:
        standby.release()
        standby_engine.dispose()
