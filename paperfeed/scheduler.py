"""The daemon's clock: when each job runs, one leader at a time, a clean stop on signals.

Correctness never depends on APScheduler's memory: every job (``paperfeed.jobs``) is an
idempotent function of the database and the clock (crawl the due days, compose the due
editions, drain the outbox), so a restart, a missed hour or a second daemon never sends
twice or skips anyone. The leader lock (``paperfeed.leader``) only saves work; a leader that
loses it (a PostgreSQL restart) pauses its jobs, and takes it again or stands by.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.crawler.pacing import Pacer
from paperfeed.digest import ComposeSummary
from paperfeed.errors import PaperfeedError
from paperfeed.jobs.compose import compose
from paperfeed.jobs.crawl import CrawlSummary, crawl_due, pacer_for
from paperfeed.jobs.embed import embed_new
from paperfeed.jobs.housekeeping import housekeeping
from paperfeed.jobs.send import send
from paperfeed.leader import LeaderLock, try_acquire_or_reason
from paperfeed.outbox.summary import SendSummary
from paperfeed.services import Clock, Services, utc_now
from paperfeed.startup import public_address
from paperfeed.store.crawls import last_crawl_started
from paperfeed.store.db import session_scope

log = structlog.get_logger("paperfeed.scheduler")

# Late jobs still run (once, coalesced) within this grace: the work is idempotent anyway.
MISFIRE_GRACE = timedelta(hours=6)
# A failed crawl is tried again after settings.crawl_retry_seconds, doubling up to this.
CRAWL_RETRY_MAX = timedelta(minutes=30)

T = TypeVar("T")
# How a crawl gets its pacer: (settings, stop event) -> a pacer for one run.
PacerFactory = Callable[[Settings, threading.Event | None], Pacer]


@dataclass
class Jobs:
    """The five jobs bound to one process's services, its clock and its stop event."""

    settings: Settings
    engine: Engine
    now: Clock = utc_now
    stop: threading.Event = field(default_factory=threading.Event)
    # Builds each crawl's pacer (one per crawl run); tests give one that does not wait.
    make_pacer: PacerFactory = pacer_for
    services: Services = field(init=False)

    def __post_init__(self) -> None:
        self.services = Services.from_settings(self.settings, engine=self.engine, now=self.now)
        # Built now, from the settings, so a hybrid ranker without its extra fails at start.
        _ = self.services.corpus

    def crawl(self) -> CrawlSummary:
        """Crawl today, the re-crawl window and unsettled days; settle what is final."""
        # Its waits (pacing, retry backoff) end at once when the daemon stops.
        return crawl_due(
            self.services, stop=self.stop, pacer=self.make_pacer(self.settings, self.stop)
        )

    def embed(self) -> None:
        """With the hybrid ranker: embed new papers and new interest topics, in batches."""
        embed_new(self.services)

    def compose(self) -> ComposeSummary:
        """Create the editions whose local send time has come."""
        return compose(self.services)

    def deliver(self) -> SendSummary:
        """Drain the outbox: claim, render, send, mark, batch after batch."""
        # send_due logs its own summary line.
        return send(self.services)

    def housekeeping(self) -> str:
        """Expire unconfirmed sign-ups, prune old crawl logs, refresh planner statistics."""
        return housekeeping(self.services)

    def bounce_poll(self) -> str:
        """Read the bounce mailbox's new reports (only with bounce_mailbox_url set)."""
        # Imported here: only a daemon with a bounce mailbox loads imaplib and flufl.bounce.
        from paperfeed.jobs.bounce_poll import bounce_poll

        try:
            return bounce_poll(self.services).line()
        except PaperfeedError as error:  # a mailbox down or a refused login: said in one line
            log.warning("bounces.poll_failed", error=str(error))
            return f"failed: {error}"

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
    if settings.bounce_mailbox_url is not None:
        scheduler.add_job(
            _guarded("bounce_poll", jobs.bounce_poll, leads),
            IntervalTrigger(minutes=settings.bounce_poll_minutes, timezone=UTC),
            id="bounce_poll",
            name="bounce_poll",
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
        taken = try_acquire_or_reason(lock)
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
    if jobs.settings.bounce_mailbox_url is not None:
        summary.note("bounces", jobs.bounce_poll())
    return summary
