"""The crawl job: fetch the days that need it with the crawler, save them with the store.

When it runs: on ``PAPERFEED_CRAWL_SCHEDULE`` (cron syntax, UTC) in the daemon, once at its
start, and again after a failed crawl sooner than the schedule (``scheduler.CrawlRetry``);
in cron mode when ``paperfeed tick`` finds the schedule fired since the last crawl; and by
hand with ``paperfeed crawl`` (a day, a backfill, a dry run).

It is the one place that knows both sides: ``crawler/`` fetches plain records over HTTP,
``store/`` turns them into rows. ``crawl_due`` is the scheduled pass; the CLI picks its own
days and calls ``crawl_days``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
import structlog
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.crawler.client import make_client
from paperfeed.crawler.fetch import fetch_day, fetch_trending
from paperfeed.crawler.pacing import Pacer, StoppableClock, Stopped
from paperfeed.crawler.polite import FIX_UNREACHABLE, HostUnreachable, RetryPolicy
from paperfeed.crawler.records import DayResult, ListingKind
from paperfeed.crawler.window import crawl_window, is_settled
from paperfeed.services import Services
from paperfeed.store.crawls import save_day, settled_days
from paperfeed.store.db import session_scope

log = structlog.get_logger("paperfeed.crawl")

# After downtime, days this far back that never settled are fetched again (catch-up).
CATCH_UP_DAYS = 14


@dataclass
class CrawlSummary:
    """Counts of one crawl run, for the log line and the exit code."""

    days: int = 0
    ok: int = 0
    empty: int = 0
    not_published: int = 0
    errors: int = 0
    papers: int = 0
    new: int = 0
    settled: int = 0
    skipped: int = 0
    error_messages: list[str] = field(default_factory=list)
    # Set when the run ended early because Hugging Face's host could not be reached.
    unreachable: str | None = None

    @property
    def failed(self) -> bool:
        """Whether nothing was crawled: the host was unreachable, or every list failed."""
        return self.unreachable is not None or (self.days > 0 and self.errors == self.days)

    def add(self, result: DayResult, *, new: int = 0, settled: bool = False) -> None:
        """Count one day's result."""
        self.days += 1
        self.papers += len(result.papers)
        self.new += new
        self.settled += int(settled)
        self.skipped += len(result.warnings)
        if result.status == "ok":
            self.ok += 1
        elif result.status == "empty":
            self.empty += 1
        elif result.status == "not_published":
            self.not_published += 1
        else:
            self.errors += 1
            self.error_messages.append(result.error or f"{result.day}: unknown error")

    def line(self) -> str:
        """One line a person (or cron's mail) can read."""
        parts = [f"crawled {self.days} list{'' if self.days == 1 else 's'}: {self.ok} ok"]
        if self.empty:
            parts.append(f"{self.empty} without a list")
        if self.not_published:
            parts.append(f"{self.not_published} not published yet")
        parts.append(f"{self.errors} errors")
        text = ", ".join(parts) + (
            f"; {self.papers} papers, {self.new} new, {self.settled} settled, "
            f"{self.skipped} warnings"
        )
        if self.unreachable is not None:
            text += f"; stopped early: {self.unreachable}"
        return text


def pacer_for(settings: Settings, stop: threading.Event | None = None) -> Pacer:
    """A pacer with the configured budgets; share one across a whole run. With ``stop``,
    its waits (pacing, backoff, Retry-After) end as soon as ``stop`` is set."""
    return Pacer(
        clock=StoppableClock(stop) if stop is not None else None,
        api_calls=settings.hf_api_calls_per_window,
        page_loads=settings.hf_page_loads_per_window,
    )


def policy_for(settings: Settings) -> RetryPolicy:
    """The retry policy the settings ask for."""
    return RetryPolicy(
        attempts=settings.hf_max_attempts, max_response_bytes=settings.hf_max_response_bytes
    )


def crawl_days(
    engine: Engine | None,
    client: httpx.Client,
    days: Sequence[date],
    *,
    settle_hours: int,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    trending: bool = False,
    on_result: Callable[[DayResult], None] | None = None,
    today: date | None = None,
    stop: threading.Event | None = None,
) -> CrawlSummary:
    """Fetch each day (and trending if asked) and save it; ``engine=None`` is a dry run.

    A host that cannot be reached ends the run after the first list, with one error line.
    """
    pacer = pacer or Pacer()
    summary = CrawlSummary()
    today = today or pacer.clock.now().date()
    # None stands for the trending list, fetched once after the days.
    targets: list[date | None] = [*days, None] if trending else list(days)
    for day in targets:
        if stop is not None and stop.is_set():  # shutting down: the next crawl resumes
            log.info("crawl.interrupted", remaining=len(targets) - summary.days)
            break
        started = pacer.clock.now()
        kind: ListingKind = "daily" if day is not None else "trending"
        # Every line logged while fetching (a retry, a warning) names the list it is about.
        with structlog.contextvars.bound_contextvars(day=str(day or today), kind=kind):
            try:
                result = (
                    fetch_day(client, day, pacer=pacer, policy=policy, today=today)
                    if day is not None
                    else fetch_trending(client, pacer=pacer, policy=policy, today=today)
                )
            except Stopped:
                log.info("crawl.interrupted", remaining=len(targets) - summary.days)
                break
            except HostUnreachable as exc:
                log.error("crawl.unreachable", host=exc.host, error=exc.reason, fix=FIX_UNREACHABLE)
                summary.unreachable = f"cannot reach {exc.host}"
                result = DayResult(
                    day=day or today, kind=kind, status="error", error=f"{day or today}: {exc}"
                )
            except Exception as exc:  # a bad day never stops the other days (issue 14)
                # The error line below is bounded; the traceback (any size) only at debug.
                log.debug("crawl.day_crashed", exc_info=True)
                result = _crashed(day or today, kind, "reading it", exc)
        finished = pacer.clock.now()
        new, settled = 0, False
        if engine is not None:
            try:
                new, settled = _save(engine, result, started, finished, settle_hours)
            except Exception as exc:  # e.g. a value the database refuses: this day only
                log.debug("crawl.save_failed", exc_info=True)
                result = _crashed(result.day, kind, "storing it", exc)
                new, settled = _save(engine, result, started, finished, settle_hours)
        summary.add(result, new=new, settled=settled)
        _log_result(result, said=summary.unreachable is not None)
        if on_result is not None:
            on_result(result)
        if summary.unreachable is not None:
            break  # every other list lives on the same host
    log.info("crawl.done", summary=summary.line())
    return summary


def _save(
    engine: Engine, result: DayResult, started: datetime, finished: datetime, settle_hours: int
) -> tuple[int, bool]:
    """Store one list's result and its term statistics; (papers new, day settled)."""
    # Imported here: ranking (numpy) loads only when a crawl runs, not with every command.
    from paperfeed.corpus import count_stored_papers

    # save_day reads what is known, then writes: on SQLite take the write lock first,
    # or a web write committed in between fails this transaction at once.
    with session_scope(engine, write_lock=True) as session:
        saved = save_day(
            session,
            result,
            started_at=started,
            finished_at=finished,
            settled=result.kind == "daily"
            and is_settled(result.day, crawled_at=finished, settle_hours=settle_hours),
        )
        if saved.papers_found:
            # Same transaction: the stored term statistics never lag the papers.
            count_stored_papers(session, now=finished)
    for warning in saved.dropped:
        log.warning("crawl.dropped", day=str(result.day), kind=result.kind, warning=warning)
    return saved.papers_new, saved.settled


def _crashed(day: date, kind: ListingKind, doing: str, exc: Exception) -> DayResult:
    """The error day for a list whose reading or storing failed unexpectedly."""
    # Bounded and printable: the message may quote the hostile value itself.
    reason = f"{type(exc).__name__}: {str(exc)[:300]}".encode("ascii", "backslashreplace").decode()
    return DayResult(
        day=day,
        kind=kind,
        status="error",
        error=f"{day} {kind}: failed while {doing} ({reason}); the other lists went on, and "
        "the next crawl tries this one again",
    )


def _log_result(result: DayResult, *, said: bool) -> None:
    """A list's notes (info), warnings and error, unless its error was said already."""
    for note in result.notes:
        log.info("crawl.note", day=str(result.day), kind=result.kind, note=note)
    for warning in result.warnings:
        log.warning("crawl.warning", day=str(result.day), kind=result.kind, warning=warning)
    if result.status == "error" and not said:
        log.error("crawl.day_failed", day=str(result.day), kind=result.kind, error=result.error)


def due_days(engine: Engine, *, today: date, recrawl_days: int) -> list[date]:
    """Today, the re-crawl window, and days of the catch-up range not settled (or never seen)."""
    since = today - timedelta(days=CATCH_UP_DAYS)
    with session_scope(engine) as session:
        settled = set(settled_days(session, since=since, until=today))
    catch_up = {since + timedelta(days=n) for n in range(CATCH_UP_DAYS + 1)} - settled
    return sorted(set(crawl_window(today, recrawl_days=recrawl_days)) | catch_up)


def crawl_due(
    services: Services, *, stop: threading.Event | None = None, pacer: Pacer | None = None
) -> CrawlSummary:
    """Crawl today, the re-crawl window and unsettled days (plus trending); settle what is
    final. With ``stop``, its waits (pacing, retry backoff) end at once when it is set."""
    settings = services.settings
    today = services.now().date()
    days = due_days(services.engine, today=today, recrawl_days=settings.recrawl_days)
    with make_client(settings) as client:
        return crawl_days(
            services.engine,
            client,
            days,
            settle_hours=settings.settle_hours,
            pacer=pacer or pacer_for(settings, stop),
            policy=policy_for(settings),
            trending=True,
            today=today,
            stop=stop,
        )
