"""The daemon's clock: APScheduler jobs, one leader at a time, a clean stop on signals.

Correctness never depends on APScheduler's memory: every job is an idempotent function of
the database and the clock (crawl the due days, compose the due editions, drain the outbox),
so a restart, a missed hour or a second daemon never sends twice or skips anyone. The lock
only saves work: PostgreSQL holds an advisory lock on a dedicated connection, SQLite a file
lock beside the database; both vanish with the process, so a standby takes over.
"""

from __future__ import annotations

import os
import signal
import threading
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawl_job import crawl_days, due_days, pacer_for, policy_for
from paperfeed.crawler.client import make_client
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.embeddings import embed_pending, subscriber_topics
from paperfeed.mailer.worker import send_once
from paperfeed.store.db import session_scope
from paperfeed.store.embeddings import prune_topic_vectors
from paperfeed.store.housekeeping import analyze, last_crawl_started, prune_crawl_runs
from paperfeed.store.web_queries import expire_pending

log = structlog.get_logger("paperfeed.scheduler")

# Late jobs still run (once, coalesced) within this grace: the work is idempotent anyway.
MISFIRE_GRACE = timedelta(hours=6)
KEEP_CRAWL_LOGS = timedelta(days=90)
LOCK_KEY = zlib.crc32(b"paperfeed scheduler leader")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass
class Jobs:
    """The daemon's jobs, each a complete, idempotent pass over the database."""

    settings: Settings
    engine: Engine
    now: Clock = utc_now
    corpus: CorpusCache = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        # Built here, from the settings, so a hybrid ranker without its extra fails at start.
        self.corpus = CorpusCache.for_settings(self.settings)

    def crawl(self) -> None:
        """Crawl today, the re-crawl window and unsettled days; settle what is final."""
        today = self.now().date()
        days = due_days(self.engine, today=today, recrawl_days=self.settings.recrawl_days)
        with make_client(self.settings) as client:
            crawl_days(
                self.engine,
                client,
                days,
                settle_hours=self.settings.settle_hours,
                pacer=pacer_for(self.settings),
                policy=policy_for(self.settings),
                trending=True,
                today=today,
                stop=self.stop,
            )

    def embed(self) -> None:
        """With the hybrid ranker: embed new papers and new interest topics, in batches."""
        if self.corpus.hybrid is not None:
            embed_pending(self.engine, self.corpus.encoder())

    def compose(self) -> None:
        """Create the editions whose local send time has come."""
        compose_due(
            self.engine,
            now=self.now(),
            policy=EditionPolicy.from_settings(self.settings),
            corpus=self.corpus,
        )

    def deliver(self) -> None:
        """Drain the outbox: claim, render, send, mark, batch after batch."""
        # send_due logs its own summary line.
        send_once(self.engine, self.settings, now=self.now, worker=f"scheduler-{os.getpid()}")

    def housekeeping(self) -> None:
        """Expire unconfirmed sign-ups, prune old crawl logs, refresh planner statistics."""
        now = self.now()
        with session_scope(self.engine) as session:
            expired = expire_pending(
                session, now=now, older_than=timedelta(hours=self.settings.confirm_hours)
            )
            pruned = prune_crawl_runs(session, now=now, keep=KEEP_CRAWL_LOGS)
        stale_topics = 0
        if self.corpus.hybrid is not None:
            topics = subscriber_topics(self.engine)
            with session_scope(self.engine) as session:
                stale_topics = prune_topic_vectors(session, keep=topics)
        analyze(self.engine)
        log.info(
            "housekeeping.done",
            signups_expired=expired,
            crawl_runs_pruned=pruned,
            topic_vectors_pruned=stale_topics,
        )

    def crawl_is_due(self) -> bool:
        """Whether the crawl schedule fired since the last crawl started (for cron mode)."""
        now = self.now()
        trigger = CronTrigger.from_crontab(self.settings.crawl_schedule, timezone=UTC)
        fired = _last_fire(trigger, now)
        with session_scope(self.engine) as session:
            last = last_crawl_started(session)
        return fired is not None and (last is None or last < fired)


def _last_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The newest fire time at or before ``now`` within the last week."""
    moment: datetime | None = trigger.get_next_fire_time(None, now - timedelta(days=7))
    last = None
    while moment is not None and moment <= now:
        last = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return last


def _guarded(name: str, job: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        structlog.contextvars.bind_contextvars(job=name)
        try:
            job()
        except Exception:  # a failed pass is retried by the next one; keep the daemon alive
            log.exception("job.failed")
        finally:
            structlog.contextvars.unbind_contextvars("job")

    return run


def build_scheduler(jobs: Jobs) -> BackgroundScheduler:
    """A scheduler with the four jobs, fixed ids, coalescing and generous misfire grace.

    The first crawl runs at once and is followed, in the same thread, by a compose and a
    send; the compose job waits for that. A compose racing a slow first crawl would write
    editions without the days that crawl settles (on a fresh install, empty ones), and a
    restarted daemon should resume an interrupted send at once, not after a fixed delay.
    """
    settings = jobs.settings
    scheduler = BackgroundScheduler(timezone=UTC)
    options: dict[str, Any] = {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()),
        "replace_existing": True,
    }
    started = threading.Event()
    crawl = _guarded("crawl", jobs.crawl)
    embed = _guarded("embed", jobs.embed)
    compose = _guarded("compose", jobs.compose)
    send = _guarded("send", jobs.deliver)

    def crawl_job() -> None:
        crawl()
        # New papers get their vectors now, not in the middle of the next compose.
        embed()
        if not started.is_set() and not jobs.stop.is_set():
            compose()
            send()
        started.set()

    def compose_job() -> None:
        if started.is_set():
            compose()

    start = jobs.now()
    scheduler.add_job(
        crawl_job,
        CronTrigger.from_crontab(settings.crawl_schedule, timezone=UTC),
        id="crawl",
        name="crawl",
        **options,
        next_run_time=start,
    )
    scheduler.add_job(
        compose_job,
        IntervalTrigger(minutes=settings.compose_interval_minutes, timezone=UTC),
        id="compose",
        name="compose",
        **options,
    )
    scheduler.add_job(
        send,
        IntervalTrigger(minutes=settings.send_interval_minutes, timezone=UTC),
        id="send",
        name="send",
        **options,
    )
    scheduler.add_job(
        _guarded("housekeeping", jobs.housekeeping),
        CronTrigger(hour=3, minute=17, timezone=UTC),
        id="housekeeping",
        name="housekeeping",
        **options,
    )
    return scheduler


class LeaderLock(AbstractContextManager["LeaderLock"]):
    """Held by at most one process per database; released when the process dies."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._folder = settings.var_dir
        self._file = FileLock(str(settings.var_dir / "scheduler.lock"))

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            taken = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}
                ).scalar()
            )
            connection.commit()
            if taken:
                self._connection = connection
            else:
                connection.close()
            return taken
        self._folder.mkdir(parents=True, exist_ok=True)
        try:
            self._file.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def wait(self, stop: threading.Event, *, poll: float = 5.0) -> bool:
        """Block until this process leads (True) or ``stop`` is set (False)."""
        announced = False
        while not stop.is_set():
            if self.try_acquire():
                log.info("leader.acquired")
                return True
            if not announced:
                log.info("leader.waiting", reason="another scheduler holds the lock")
                announced = True
            stop.wait(poll)
        return False

    def release(self) -> None:
        """Give the lock up (also happens when the process dies)."""
        if self._connection is not None:
            # The connection goes back to the pool, and a session-level advisory lock would
            # go with it: unlock explicitly first.
            self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            self._connection.commit()
            self._connection.close()
            self._connection = None
        if self._file.is_locked:
            self._file.release()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def run_scheduler(jobs: Jobs, *, poll: float = 5.0) -> None:
    """Lead (or wait to), run the jobs until ``jobs.stop`` is set, then shut down cleanly."""
    stop = jobs.stop
    lock = LeaderLock(jobs.engine, jobs.settings)
    if not lock.wait(stop, poll=poll):
        return
    scheduler = build_scheduler(jobs)
    scheduler.start()
    log.info("scheduler.started", jobs=[j.id for j in scheduler.get_jobs()])
    try:
        stop.wait()
    finally:
        # wait=True lets the running job finish its current pass (a send batch is bounded).
        scheduler.shutdown(wait=True)
        lock.release()
        log.info("scheduler.stopped")


@dataclass
class TickSummary:
    """What one cron-mode pass ran."""

    ran: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for cron's mail."""
        return "tick: ran " + (", ".join(self.ran) if self.ran else "nothing")


def tick(jobs: Jobs, *, housekeeping: bool = False) -> TickSummary:
    """One idempotent pass of every due job, for cron or a systemd timer."""
    summary = TickSummary()
    if jobs.crawl_is_due():
        jobs.crawl()
        summary.ran.append("crawl")
    jobs.compose()
    summary.ran.append("compose")
    jobs.deliver()
    summary.ran.append("send")
    if housekeeping:
        jobs.housekeeping()
        summary.ran.append("housekeeping")
    return summary


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT ask for a clean stop: finish the pass under way, then exit 0."""

    def handle(signum: int, _frame: object) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
