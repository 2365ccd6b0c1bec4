"""The daemon's clock: APScheduler jobs, one leader at a time, a clean stop on signals.

Correctness never depends on APScheduler's memory: every job is an idempotent function of
the database and the clock (crawl the due days, compose the due editions, drain the outbox),
so a restart, a missed hour or a second daemon never sends twice or skips anyone. The lock
only saves work: PostgreSQL holds an advisory lock on a dedicated connection, SQLite a file
lock beside the database; both vanish with the process, so a standby takes over. A PostgreSQL
restart ends the lock's session and the lock with it, so the leader confirms it still holds the
lock before each job and every few seconds, and takes it again or stands by.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawl_job import CrawlSummary, crawl_days, due_days, pacer_for, policy_for
from paperfeed.crawler.client import make_client
from paperfeed.digest import ComposeSummary, EditionPolicy, compose_due
from paperfeed.embeddings import embed_pending, subscriber_topics
from paperfeed.mailer.files import remove_mail_to
from paperfeed.mailer.outbox import SendSummary
from paperfeed.mailer.worker import send_once
from paperfeed.startup import public_address
from paperfeed.store.db import database_error_reason, database_unavailable, session_scope
from paperfeed.store.embeddings import prune_topic_vectors
from paperfeed.store.housekeeping import (
    analyze,
    expire_pending,
    last_crawl_started,
    prune_crawl_runs,
)

log = structlog.get_logger("paperfeed.scheduler")

# Late jobs still run (once, coalesced) within this grace: the work is idempotent anyway.
MISFIRE_GRACE = timedelta(hours=6)
KEEP_CRAWL_LOGS = timedelta(days=90)
# A failed crawl is tried again after settings.crawl_retry_seconds, doubling up to this.
CRAWL_RETRY_MAX = timedelta(minutes=30)
LOCK_KEY = zlib.crc32(b"paperfeed scheduler leader")
# Whether this session holds the lock: a bigint key shows as classid (its high half, 0 here),
# objid (its low half) and objsubid 1.
HOLDS_LOCK = text(
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = 0 AND objid = CAST(:k AS bigint)::oid"
    " AND objsubid = 1)"
)

Clock = Callable[[], datetime]
T = TypeVar("T")


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

    def crawl(self) -> CrawlSummary:
        """Crawl today, the re-crawl window and unsettled days; settle what is final."""
        today = self.now().date()
        days = due_days(self.engine, today=today, recrawl_days=self.settings.recrawl_days)
        with make_client(self.settings) as client:
            return crawl_days(
                self.engine,
                client,
                days,
                settle_hours=self.settings.settle_hours,
                # Its waits (pacing, retry backoff) end at once when the daemon stops.
                pacer=pacer_for(self.settings, self.stop),
                policy=policy_for(self.settings),
                trending=True,
                today=today,
                stop=self.stop,
            )

    def embed(self) -> None:
        """With the hybrid ranker: embed new papers and new interest topics, in batches."""
        if self.corpus.hybrid is not None:
            embed_pending(self.engine, self.corpus.encoder())

    def compose(self) -> ComposeSummary:
        """Create the editions whose local send time has come."""
        return compose_due(
            self.engine,
            now=self.now(),
            policy=EditionPolicy.from_settings(self.settings),
            corpus=self.corpus,
        )

    def deliver(self) -> SendSummary:
        """Drain the outbox: claim, render, send, mark, batch after batch."""
        # send_due logs its own summary line.
        return send_once(
            self.engine, self.settings, now=self.now, worker=f"scheduler-{os.getpid()}"
        )

    def housekeeping(self) -> str:
        """Expire unconfirmed sign-ups, prune old crawl logs, refresh planner statistics."""
        now = self.now()
        with session_scope(self.engine) as session:
            expired = expire_pending(
                session, now=now, older_than=timedelta(hours=self.settings.confirm_hours)
            )
            pruned = prune_crawl_runs(session, now=now, keep=KEEP_CRAWL_LOGS)
        if expired and self.settings.smtp_url is None:
            # Their confirmation mail sits in the file outbox: it goes with them.
            remove_mail_to(self.settings.outbox_dir, *expired)
        stale_topics = 0
        if self.corpus.hybrid is not None:
            topics = subscriber_topics(self.engine)
            with session_scope(self.engine) as session:
                stale_topics = prune_topic_vectors(session, keep=topics)
        analyze(self.engine)
        log.info(
            "housekeeping.done",
            signups_expired=len(expired),
            crawl_runs_pruned=pruned,
            topic_vectors_pruned=stale_topics,
        )
        return (
            f"{len(expired)} unconfirmed sign-ups expired, {pruned} crawl logs pruned, "
            f"{stale_topics} topic vectors pruned"
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


def _guarded(
    name: str, job: Callable[[], T], leads: Callable[[], bool] | None = None
) -> Callable[[], T | None]:
    """``job`` that logs instead of raising; None when it failed or was skipped."""

    def run() -> T | None:
        structlog.contextvars.bind_contextvars(job=name)
        try:
            if leads is not None and not leads():
                log.info("job.skipped", reason="this scheduler no longer holds the leader lock")
                return None
            return job()
        except Exception:  # a failed pass is retried by the next one; keep the daemon alive
            log.exception("job.failed")
            return None
        finally:
            structlog.contextvars.unbind_contextvars("job")

    return run


@dataclass
class CrawlRetry:
    """When to try a failed crawl again: ``first``, then twice as long each time up to
    ``longest``, until a crawl succeeds (not at the next slot of the crawl schedule)."""

    first: timedelta
    longest: timedelta = CRAWL_RETRY_MAX
    failures: int = 0

    def after(self, *, failed: bool) -> timedelta | None:
        """The wait before the next try after a crawl that ``failed``; None after a success."""
        if not failed:
            self.failures = 0
            return None
        self.failures += 1
        longer: timedelta = self.first * 2 ** min(self.failures - 1, 16)
        return min(self.longest, longer)


def build_scheduler(jobs: Jobs, *, leads: Callable[[], bool] | None = None) -> BackgroundScheduler:
    """A scheduler with the four jobs, fixed ids, coalescing and generous misfire grace.

    With ``leads``, each job first asks it whether this process still leads, and skips if not.

    The first crawl runs at once and is followed, in the same thread, by a compose and a
    send; the compose job waits for that. A compose racing a slow first crawl would write
    editions without the days that crawl settles (on a fresh install, empty ones), and a
    restarted daemon should resume an interrupted send at once, not after a fixed delay.

    A crawl that got nothing (Hugging Face unreachable, every list failed) runs again after
    ``CrawlRetry``'s wait (1, 2, 4 … up to 30 minutes by default), not at the next slot.
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
    crawl = _guarded("crawl", jobs.crawl, leads)
    embed = _guarded("embed", jobs.embed, leads)
    compose = _guarded("compose", jobs.compose, leads)
    send = _guarded("send", jobs.deliver, leads)
    retry = CrawlRetry(first=timedelta(seconds=settings.crawl_retry_seconds))

    def crawl_job() -> None:
        summary = crawl()
        wait = retry.after(failed=summary is None or summary.failed)
        if wait is not None and not jobs.stop.is_set():
            _bring_forward(scheduler, "crawl", jobs.now() + wait, wait)
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
        _guarded("housekeeping", jobs.housekeeping, leads),
        CronTrigger(hour=3, minute=17, timezone=UTC),
        id="housekeeping",
        name="housekeeping",
        **options,
    )
    return scheduler


def _bring_forward(
    scheduler: BackgroundScheduler, job_id: str, moment: datetime, wait: timedelta
) -> None:
    """Run ``job_id`` at ``moment`` if that comes before its next scheduled run; its trigger
    takes over again after that run."""
    job = scheduler.get_job(job_id)
    if job is None:
        return
    scheduled: datetime | None = job.next_run_time
    if scheduled is None or moment < scheduled:
        scheduler.modify_job(job_id, next_run_time=moment)
        log.warning(
            "crawl.retry_scheduled",
            at=moment.isoformat(timespec="seconds"),
            in_seconds=round(wait.total_seconds()),
            reason="the crawl failed; tried again before the next scheduled crawl",
        )


class LeaderLock(AbstractContextManager["LeaderLock"]):
    """Held by at most one process per database; released when the process dies.

    On PostgreSQL the lock lives as long as the session that took it: a server restart or a
    dropped connection loses it silently, so the leader asks ``confirm`` before it works.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        # The job threads confirm the lock on the same connection as the scheduler's thread.
        self._guard = threading.Lock()
        self._folder = settings.var_dir
        self._file = FileLock(str(settings.var_dir / "scheduler.lock"))
        # FileLock.is_locked answers per thread, and the jobs ask from their own threads.
        self._file_held = False

    @property
    def held(self) -> bool:
        """Whether this process holds the lock, as of its last ``try_acquire`` or ``confirm``."""
        return self._connection is not None or self._file_held

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks. Raises if the database cannot be reached."""
        if self.engine.dialect.name == "postgresql":
            with self._guard:
                connection = self.engine.connect()
                try:
                    taken = bool(
                        connection.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}
                        ).scalar()
                    )
                    connection.commit()
                except BaseException:
                    _discard(connection)
                    raise
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
        self._file_held = True
        return True

    def confirm(self) -> bool:
        """Whether the lock is still ours: its session alive and holding it. Never raises; a
        lock found lost is let go, and ``held`` turns False."""
        if self.engine.dialect.name != "postgresql":
            return self._file_held
        with self._guard:
            connection = self._connection
            if connection is None:
                return False
            try:
                held = bool(connection.execute(HOLDS_LOCK, {"k": LOCK_KEY}).scalar())
                connection.commit()
                reason = "its session no longer holds it"
            except SQLAlchemyError as exc:
                held, reason = False, database_error_reason(exc)
            if not held:
                self._connection = None
                _discard(connection)
                log.warning("leader.lock_lost", reason=reason)
            return held

    def wait(self, stop: threading.Event, *, poll: float = 5.0) -> bool:
        """Block until this process leads (True) or ``stop`` is set (False); a database that
        cannot be reached is waited for like a lock held elsewhere."""
        said = ""
        while not stop.is_set():
            taken = _try_acquire(self)
            if taken is True:
                log.info("leader.acquired")
                return True
            if taken is False and said != "waiting":
                log.info("leader.waiting", reason="another scheduler holds the lock")
                said = "waiting"
            elif isinstance(taken, str) and said != "unavailable":
                log.warning("leader.database_unavailable", error=taken, retry_in=poll)
                said = "unavailable"
            stop.wait(poll)
        return False

    def release(self) -> None:
        """Give the lock up (also happens when the process dies); never raises."""
        with self._guard:
            connection, self._connection = self._connection, None
            if connection is not None:
                # The connection goes back to the pool, and a session-level advisory lock
                # would go with it: unlock explicitly first.
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    connection.commit()
                    connection.close()
                except SQLAlchemyError as exc:
                    # The session ended (a database restart) and took the lock with it.
                    log.info("leader.release_skipped", reason=database_error_reason(exc))
                    _discard(connection)
        if self._file.is_locked:
            self._file.release()
            self._file_held = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _discard(connection: Connection) -> None:
    """Close a lock connection for good, not back into the pool: its session, and any lock
    it may still hold, end with it."""
    try:
        connection.invalidate()
        connection.close()
    except SQLAlchemyError as exc:
        log.debug("leader.discard_failed", reason=database_error_reason(exc))


def _try_acquire(lock: LeaderLock) -> bool | str:
    """``lock.try_acquire()``, or why the database cannot be reached now."""
    try:
        return lock.try_acquire()
    except SQLAlchemyError as exc:
        if not database_unavailable(exc):
            raise
        return database_error_reason(exc)


def run_scheduler(jobs: Jobs, *, poll: float = 5.0, lock: LeaderLock | None = None) -> None:
    """Lead (or wait to), run the jobs until ``jobs.stop`` is set, then shut down cleanly.

    A leader that loses its lock (a PostgreSQL restart) pauses its jobs, takes the lock
    again once the database is back, or stands by if another scheduler took it meanwhile.
    """
    stop = jobs.stop
    if lock is None:
        lock = LeaderLock(jobs.engine, jobs.settings)
    try:
        while lock.wait(stop, poll=poll):
            _lead(jobs, lock, poll=poll)
    finally:
        lock.release()


def _lead(jobs: Jobs, lock: LeaderLock, *, poll: float) -> None:
    """Run the jobs while this process holds ``lock``; return on stop or once it lost it."""
    scheduler = build_scheduler(jobs, leads=lock.confirm)
    scheduler.start()
    log.info("scheduler.started", jobs=[j.id for j in scheduler.get_jobs()])
    try:
        while not jobs.stop.wait(poll):
            if lock.confirm():
                continue
            # Paused, not stopped: jobs due meanwhile run once (coalesced) on resume.
            scheduler.pause()
            if not _regain(lock, jobs.stop, poll=poll):
                return
            scheduler.resume()
    finally:
        # wait=True lets the running job finish its current pass (a send batch is bounded).
        scheduler.shutdown(wait=True)
        log.info("scheduler.stopped")


def _regain(lock: LeaderLock, stop: threading.Event, *, poll: float) -> bool:
    """After losing the lock, take it again (True); False if another scheduler has it or
    ``stop`` is set. An unreachable database is retried every ``poll`` seconds, said once."""
    said = False
    while not stop.is_set():
        taken = _try_acquire(lock)
        if taken is True:
            log.info("leader.reacquired")
            return True
        if taken is False:
            log.warning("leader.lost", reason="another scheduler took the lock; standing by")
            return False
        if not said:
            log.warning("leader.database_unavailable", error=taken, retry_in=poll)
            said = True
        stop.wait(poll)
    return False


@dataclass
class TickSummary:
    """What one cron-mode pass ran."""

    ran: list[str] = field(default_factory=list)
    # What each job did, in the order they ran: "crawl: crawled 3 lists: …".
    did: list[str] = field(default_factory=list)

    def note(self, job: str, done: object) -> None:
        """Record that ``job`` ran and what it reported (a summary with ``line()``, or text)."""
        self.ran.append(job)
        line = getattr(done, "line", None)
        self.did.append(f"{job}: {line() if callable(line) else done}")

    def line(self) -> str:
        """One line for cron's mail: every job that ran with its counts."""
        if not self.ran:
            return "tick: ran nothing"
        return "tick: " + "; ".join(self.did or self.ran)


def tick(jobs: Jobs, *, housekeeping: bool = False) -> TickSummary:
    """One idempotent pass of every due job, for cron or a systemd timer."""
    summary = TickSummary()
    address = public_address(jobs.settings, host=None, port=None)
    if address.warning:  # cron mode sends mail too: its links must work
        log.warning("config.public_url", warning=address.warning)
    if jobs.crawl_is_due():
        summary.note("crawl", jobs.crawl())
        jobs.embed()  # a no-op unless the hybrid ranker is on
    else:
        summary.did.append("crawl: not due")
    summary.note("compose", jobs.compose())
    summary.note("send", jobs.deliver())
    if housekeeping:
        summary.note("housekeeping", jobs.housekeeping())
    return summary
