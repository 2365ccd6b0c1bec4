"""Which papers each subscriber gets in an edition: due dates, ranking, threshold, never twice.

An edition for (subscriber, local date) takes the papers of daily lists that settled since the
subscriber's previous edition (at most ``lookback_days`` back), drops papers already sent to
them (the ledger), ranks the rest with their interests, keeps those above the ranker's
threshold up to their maximum, and adds a few top-upvoted papers they did not match as
"also trending". Everything of one edition is written in one transaction, so a rerun for the
same date writes nothing and no paper is ever chosen twice. ``choose_papers`` is that rule for
one reader; ``pick_papers`` asks it for one subscriber or interest text without writing, so
``paperfeed preview``, ``paperfeed rank`` and the web preview show what compose would pick.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Collection, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache, to_document
from paperfeed.learned_profiles import feedback_of
from paperfeed.ranking.feedback import with_feedback
from paperfeed.ranking.interests import Interests, parse_interests
from paperfeed.ranking.ranker import Ranker, Ranking
from paperfeed.store.db import session_scope
from paperfeed.store.editions import (
    ListedPaper,
    PlannedEdition,
    PlannedPaper,
    editions_on,
    last_edition_at,
    prefer_indexes,
    receiving_readers,
    sent_papers,
    settled_papers,
    write_editions,
)
from paperfeed.store.models import Frequency, Subscriber
from paperfeed.store.papers import papers_on

log = structlog.get_logger("paperfeed.compose")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Subscribers ranked per matrix product and written per transaction.
BATCH = 1000


@dataclass(frozen=True, slots=True)
class EditionPolicy:
    """The knobs of composing, from settings."""

    lookback_days: int = 7
    max_lateness: timedelta = timedelta(hours=20)
    also_trending: int = 3
    when_nothing_matches: Literal["trending", "skip"] = "trending"
    weekly_day: int = 0  # Monday

    @classmethod
    def from_settings(cls, settings: Settings) -> EditionPolicy:
        """The policy the settings describe."""
        return cls(
            lookback_days=settings.lookback_days,
            max_lateness=timedelta(hours=settings.max_lateness_hours),
            also_trending=settings.also_trending,
            when_nothing_matches=settings.when_nothing_matches,
            weekly_day=WEEKDAYS.index(settings.weekly_day),
        )


@dataclass
class ComposeSummary:
    """What a compose pass did."""

    due: int = 0
    editions: int = 0
    deliveries: int = 0
    papers: int = 0
    trending_only: int = 0
    nothing: int = 0
    too_late: int = 0
    caught_up: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"composed {self.editions} editions for {self.due} due subscribers: "
            f"{self.deliveries} to send ({self.papers} papers), {self.trending_only} "
            f"trending only, {self.nothing} with nothing new; {self.too_late} past max "
            f"lateness, {len(self.caught_up)} caught up"
        )


class Receiving(Protocol):
    """What composing reads of a subscriber: a ``Reader`` row, or a ``Subscriber``."""

    @property
    def id(self) -> int | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def interests(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def send_hour(self) -> int: ...
    @property
    def frequency(self) -> str: ...
    @property
    def max_papers(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Due:
    """A subscriber whose edition for ``local_date`` should be composed now."""

    subscriber: Receiving
    local_date: date
    send_at: datetime


@lru_cache(maxsize=50_000)
def parsed_interests(text: str) -> Interests:
    """A subscriber's parsed interests, cached by text: parsing costs ~0.3 ms, ranking less."""
    return parse_interests(text)


def send_time(subscriber: Receiving, local_date: date) -> datetime:
    """The UTC moment of the subscriber's send hour on ``local_date`` (DST-safe).

    A send hour that does not exist that day (spring forward) is read with the offset before
    the change, which lands just after the gap; an hour that exists twice (fall back) is its
    first occurrence. Either way there is exactly one moment, so one edition.
    """
    zone = ZoneInfo(subscriber.timezone)
    local = datetime.combine(local_date, time(subscriber.send_hour), tzinfo=zone)
    return local.astimezone(UTC)


def find_due(
    subscribers: Iterable[Receiving],
    *,
    now: datetime,
    policy: EditionPolicy,
    done: set[tuple[int, date]] | None = None,
    summary: ComposeSummary | None = None,
) -> list[Due]:
    """Subscribers whose send time passed (today or yesterday, local) with no edition yet.

    Only the newest missed date is composed, so an outage is caught up by one edition; one
    whose send time is more than ``max_lateness`` ago is not sent at all.
    """
    due: list[Due] = []
    # The dates and moments depend only on the time zone, hour and frequency: worked out once
    # per combination (a few hundred), not once per subscriber (100,000).
    schedules: dict[tuple[str, int, str], list[tuple[date, datetime, bool]]] = {}
    for subscriber in subscribers:
        assert subscriber.id is not None
        key = (subscriber.timezone, subscriber.send_hour, subscriber.frequency)
        schedule = schedules.get(key)
        if schedule is None:
            schedule = schedules[key] = _passed_send_times(subscriber, now=now, policy=policy)
        for local_date, moment, too_late in schedule:
            if done is not None and (subscriber.id, local_date) in done:
                break
            if too_late:
                if summary is not None:
                    summary.too_late += 1
                break
            due.append(Due(subscriber, local_date, moment))
            break
    return due


def _passed_send_times(
    subscriber: Receiving, *, now: datetime, policy: EditionPolicy
) -> list[tuple[date, datetime, bool]]:
    """The subscriber's edition dates whose send time passed (today's, then yesterday's local
    date), each with its moment and whether it is past ``max_lateness``."""
    out: list[tuple[date, datetime, bool]] = []
    local_today = now.astimezone(ZoneInfo(subscriber.timezone)).date()
    for local_date in (local_today, local_today - timedelta(days=1)):
        if subscriber.frequency == Frequency.WEEKLY and local_date.weekday() != policy.weekly_day:
            continue
        moment = send_time(subscriber, local_date)
        if moment > now:
            continue
        out.append((local_date, moment, now - moment > policy.max_lateness))
    return out


def compose_due(
    engine: Engine,
    *,
    now: datetime,
    policy: EditionPolicy,
    corpus: CorpusCache,
    email: str | None = None,
    local_date: date | None = None,
) -> ComposeSummary:
    """Create every edition due at ``now`` (or, with ``local_date``, for that date)."""
    with collector_paused():
        return _compose_due(
            engine, now=now, policy=policy, corpus=corpus, email=email, local_date=local_date
        )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration (back on after, if it was on).

    A pass builds millions of small objects (rows, reasons, cached topics) that live until it
    ends and form no cycles; the collector kept re-scanning them, a quarter of the CPU of a
    100,000-subscriber pass. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# How long a thread may hold the GIL while another waits for it, during an overlapped pass.
SWITCH_INTERVAL_S = 0.0005


@contextmanager
def quick_thread_switches(enabled: bool) -> Iterator[None]:
    """Python's thread switch interval at ``SWITCH_INTERVAL_S`` for the duration (if enabled).

    The writer thread streams COPY data faster than the server takes it, so it blocks on the
    socket hundreds of times a batch, and each time it wakes it waits for the GIL, which the
    ranking thread keeps for the default 5 ms. The writer is the pass's critical path: at
    100,000 subscribers, 0.5 ms took 5-7 s (8-10%) off the pass on the 2-core machine.
    """
    if not enabled:
        yield
        return
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _compose_due(
    engine: Engine,
    *,
    now: datetime,
    policy: EditionPolicy,
    corpus: CorpusCache,
    email: str | None,
    local_date: date | None,
) -> ComposeSummary:
    summary = ComposeSummary()
    with session_scope(engine) as session:
        readers = receiving_readers(session, email=email)
        prefer_indexes(session)  # the subscribers were read whole; editions are looked up
        if local_date is None:
            candidates = find_due(readers, now=now, policy=policy)
            done = editions_on(session, [(d.subscriber.id or 0, d.local_date) for d in candidates])
            due = find_due(readers, now=now, policy=policy, done=done, summary=summary)
        else:
            done = editions_on(session, [(r.id, local_date) for r in readers])
            due = [
                Due(r, local_date, send_time(r, local_date))
                for r in readers
                if (r.id, local_date) not in done
            ]
    summary.due = len(due)
    if not due:
        log.info("compose.done", summary=summary.line())
        return summary
    ranker = corpus.ranker(engine)
    # Readers with the same look-back window read the same papers: each window's papers are
    # read and indexed once, and its readers ranked and written in batches.
    windows: dict[tuple[date, date], list[Due]] = {}
    for item in due:
        windows.setdefault(window_of(policy, item), []).append(item)
    # PostgreSQL checks and indexes every row a batch writes in its own process: the next
    # batch is ranked meanwhile, its write queued behind this one's (one writer, in order).
    overlap = isinstance(engine, Engine) and engine.dialect.name == "postgresql"
    with (
        quick_thread_switches(overlap),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose-write") as writer,
    ):
        writing: Future[int] | None = None
        for (since, until), members in windows.items():
            with session_scope(engine) as session:
                listed = settled_papers(session, since=since, until=until)
            day = Window(listed, ranker) if listed else None
            for start in range(0, len(members), BATCH):
                batch = members[start : start + BATCH]
                if not overlap:
                    _compose_batch(engine, batch, now=now, policy=policy, day=day, summary=summary)
                    continue
                plans = _plan_batch(engine, batch, now=now, policy=policy, day=day, summary=summary)
                if writing is not None:
                    summary.editions += writing.result()
                writing = writer.submit(_write_plans, engine, plans, now)
        if writing is not None:
            summary.editions += writing.result()
    for name in summary.caught_up:
        log.info("compose.caught_up", subscriber=name)
    log.info("compose.done", summary=summary.line())
    return summary


def window_of(policy: EditionPolicy, item: Due) -> tuple[date, date]:
    """The listing dates an edition may take papers from: its look-back up to its date."""
    lookback = lookback_days(policy, item.subscriber.frequency)
    return item.local_date - timedelta(days=lookback), item.local_date


class Window:
    """One look-back window's settled papers, indexed once for every batch that reads them."""

    def __init__(self, listed: Sequence[ListedPaper], ranker: Ranker[Any]) -> None:
        self.listed = listed
        self.ranker = ranker
        self.ids = [p.paper.arxiv_id for p in listed]
        self.index = ranker.index_day([to_document(p.paper, upvotes=p.upvotes) for p in listed])
        # Most upvoted first, sorted once: each edition's "also trending" is then its first
        # few eligible papers, not a sort of its own.
        self.by_votes = by_upvotes((p.paper.arxiv_id, p.upvotes) for p in listed)
        self._eligible: dict[tuple[date, int, datetime | None], dict[str, ListedPaper]] = {}

    def eligible(
        self, *, local_date: date, lookback: int, previous: datetime | None, sent: Collection[str]
    ) -> dict[str, ListedPaper]:
        """``eligible_papers`` of this window; shared by readers with the same date, look-back
        and previous edition (a pass writes everyone's previous edition at one moment)."""
        key = (local_date, lookback, previous)
        base = self._eligible.get(key)
        if base is None:
            base = self._eligible[key] = eligible_papers(
                self.listed, local_date=local_date, lookback=lookback, previous=previous, sent=()
            )
        if not sent or not any(paper_id in sent for paper_id in base):
            return base
        return {k: v for k, v in base.items() if k not in sent}


def _compose_batch(
    engine: Engine,
    batch: Sequence[Due],
    *,
    now: datetime,
    policy: EditionPolicy,
    day: Window | None,
    summary: ComposeSummary,
) -> None:
    ids = [d.subscriber.id or 0 for d in batch]
    ranked = _rank(engine, batch, ids, day)
    with session_scope(engine, write_lock=True) as session:
        prefer_indexes(session)
        # The ledger is read in the transaction that writes: a paper sent meanwhile by a
        # concurrent compose fails this transaction (unique ledger) instead of going twice.
        # On SQLite the write lock is taken first, or a web write committed between the
        # reads and the writes would fail the transaction at once.
        plans = _choose(session, batch, ids, ranked, day, now=now, policy=policy, summary=summary)
        summary.editions += write_editions(session, plans, now=now)


def _plan_batch(
    engine: Engine,
    batch: Sequence[Due],
    *,
    now: datetime,
    policy: EditionPolicy,
    day: Window | None,
    summary: ComposeSummary,
) -> list[PlannedEdition]:
    """A batch's editions chosen, not written (PostgreSQL: ``_write_plans`` writes them)."""
    ids = [d.subscriber.id or 0 for d in batch]
    ranked = _rank(engine, batch, ids, day)
    # Read committed, as in the transaction that writes: a paper a concurrent compose sends
    # after this read fails the write (unique ledger), never goes twice.
    with session_scope(engine) as session:
        prefer_indexes(session)
        return _choose(session, batch, ids, ranked, day, now=now, policy=policy, summary=summary)


def _write_plans(engine: Engine, plans: Sequence[PlannedEdition], now: datetime) -> int:
    with session_scope(engine, write_lock=True) as session:
        prefer_indexes(session)
        return write_editions(session, plans, now=now)


def _rank(
    engine: Engine, batch: Sequence[Due], ids: Sequence[int], day: Window | None
) -> Ranking | None:
    if day is None:
        return None
    with session_scope(engine) as session:
        prefer_indexes(session)
        # What each reader rated: the learned part of their profile.
        learned = feedback_of(session, ids)
    # Ranked outside a transaction: the hybrid ranker stores vectors it had to compute, and
    # on SQLite a write from another connection would leave this one's snapshot stale.
    interests = [
        with_feedback(parsed_interests(d.subscriber.interests), learned.get(ids[row]))
        for row, d in enumerate(batch)
    ]
    return day.ranker.rank(day.index, interests, top_k=len(day.listed))


def _choose(
    session: Session,
    batch: Sequence[Due],
    ids: Sequence[int],
    ranked: Ranking | None,
    day: Window | None,
    *,
    now: datetime,
    policy: EditionPolicy,
    summary: ComposeSummary,
) -> list[PlannedEdition]:
    """Each reader's edition (``select_papers`` over what they may still get), counted."""
    previous = last_edition_at(session, ids)
    already = sent_papers(session, ids, day.ids) if day is not None else {}
    plans: list[PlannedEdition] = []
    nothing = Selection((), (), deliver=False)
    for row, item in enumerate(batch):
        reader = item.subscriber
        selection = nothing
        eligible: Mapping[str, ListedPaper] = {}
        if day is not None and ranked is not None:
            eligible = day.eligible(
                local_date=item.local_date,
                lookback=lookback_days(policy, reader.frequency),
                previous=previous.get(ids[row]),
                sent=already.get(ids[row], ()),
            )
            if eligible:
                selection = select_papers(
                    ranked,
                    row,
                    eligible=eligible,
                    by_votes=day.by_votes,
                    max_papers=reader.max_papers,
                    policy=policy,
                )
        if selection.deliver and not selection.matched:
            summary.trending_only += 1
        elif not selection.deliver:
            summary.nothing += 1
        if selection.deliver:
            summary.deliveries += 1
            summary.papers += len(selection.papers)
        plans.append(PlannedEdition(ids[row], item.local_date, selection.papers, selection.deliver))
        if eligible and now - item.send_at > timedelta(hours=1):
            who = reader.email or reader.name  # a team has a name
            summary.caught_up.append(f"{who} {item.local_date}")
    return plans


def lookback_days(policy: EditionPolicy, frequency: str) -> int:
    """Days an edition may reach back: a weekly edition always covers at least its week."""
    if frequency == Frequency.WEEKLY:
        return max(policy.lookback_days, 7)
    return policy.lookback_days


def eligible_papers(
    listed: Iterable[ListedPaper],
    *,
    local_date: date,
    lookback: int,
    previous: datetime | None,
    sent: Container[str],
) -> dict[str, ListedPaper]:
    """Papers of days that settled since the previous edition, in the window, never sent."""
    earliest = local_date - timedelta(days=lookback)
    return {
        p.paper.arxiv_id: p
        for p in listed
        if earliest <= p.listing_date <= local_date
        and (previous is None or p.settled_at > previous)
        and p.paper.arxiv_id not in sent
    }


@dataclass(frozen=True, slots=True)
class Selection:
    """What one edition holds: the matches above the threshold, then "also trending".

    ``papers`` is what is written and mailed: the matches and the trending extras, the
    trending extras alone when nothing matched and the policy says so, or nothing at all.
    """

    matched: tuple[PlannedPaper, ...]
    trending: tuple[PlannedPaper, ...]
    deliver: bool

    @property
    def papers(self) -> tuple[PlannedPaper, ...]:
        """The papers of the edition, matches first; empty when it is not delivered."""
        return (*self.matched, *self.trending) if self.deliver else ()


def by_upvotes(papers: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """``(paper_id, upvotes)`` pairs most upvoted first (ties by id): the order of trending."""
    return sorted(papers, key=lambda p: (-p[1], p[0]))


def select_papers(
    ranked: Ranking,
    row: int,
    *,
    eligible: Container[str],
    by_votes: Sequence[tuple[str, int]],
    max_papers: int,
    policy: EditionPolicy,
) -> Selection:
    """The papers of subscriber ``row``'s edition among the ``eligible`` ones.

    Matched: the ranker's picks (those whose evidence reached its threshold), best first,
    only eligible papers (the window, never one sent before), at most ``max_papers``. Then
    up to ``policy.also_trending`` of the most upvoted eligible papers that were neither
    matched nor excluded by the subscriber. With no match, the trending papers alone are
    sent (``when_nothing_matches="trending"``) or nothing (``"skip"``). Compose and
    ``bench/digest_run.py`` both go through here, so the benchmark measures what is sent.
    """
    matched = tuple(
        PlannedPaper(p.paper_id, "matched", p.score, p.reasons)
        for p in ranked.select(row, allowed=eligible, limit=max_papers)
    )
    chosen = {p.paper_id for p in matched}
    excluded = ranked.excluded(row) if policy.also_trending else frozenset()
    trending: list[PlannedPaper] = []
    for paper_id, upvotes in by_votes:
        if len(trending) >= policy.also_trending:
            break
        if paper_id in eligible and paper_id not in chosen and paper_id not in excluded:
            trending.append(PlannedPaper(paper_id, "trending", 0.0, (f"{upvotes} upvotes",)))
    deliver = bool(matched) or (policy.when_nothing_matches == "trending" and bool(trending))
    return Selection(matched, tuple(trending), deliver)


def choose_papers(
    ranked: Ranking | None,
    row: int,
    *,
    listed: Sequence[ListedPaper],
    by_votes: Sequence[tuple[str, int]],
    local_date: date,
    frequency: str,
    previous: datetime | None,
    sent: Container[str],
    max_papers: int,
    policy: EditionPolicy,
) -> tuple[dict[str, ListedPaper], Selection]:
    """Eligibility then ``select_papers``: the one rule for what an edition holds.

    ``listed`` are the settled papers read for the edition (``ranked`` ranks them; None when
    there are none); ``previous`` is when the reader's last edition was made and ``sent``
    what they were sent (the ledger); both are empty for interest text with no subscriber.
    Compose, ``pick_papers`` (previews, ``paperfeed rank``) all choose here.
    """
    eligible = eligible_papers(
        listed,
        local_date=local_date,
        lookback=lookback_days(policy, frequency),
        previous=previous,
        sent=sent,
    )
    if not eligible or ranked is None:
        return eligible, Selection((), (), deliver=False)
    selection = select_papers(
        ranked,
        row,
        eligible=eligible,
        by_votes=by_votes,
        max_papers=max_papers,
        policy=policy,
    )
    return eligible, selection


@dataclass(frozen=True, slots=True)
class Picks:
    """What an edition for ``local_date`` would hold, and what it was chosen from."""

    interests: Interests
    local_date: date
    since: date
    listed: tuple[ListedPaper, ...]
    eligible: dict[str, ListedPaper]
    selection: Selection
    threshold: float


def local_today(timezone: str, now: datetime) -> date:
    """The date it is at ``now`` in the IANA ``timezone`` (a subscriber's edition date)."""
    return now.astimezone(ZoneInfo(timezone)).date()


def pick_papers(
    engine: Engine,
    corpus: CorpusCache,
    *,
    interests: str,
    local_date: date,
    policy: EditionPolicy,
    subscriber: Subscriber | None = None,
    max_papers: int | None = None,
    listed: Sequence[ListedPaper] | None = None,
) -> Picks:
    """The papers an edition for ``local_date`` would give ``interests``; nothing is written.

    With a ``subscriber``: their frequency's look-back, their previous edition and the papers
    they were sent, and their maximum, exactly as compose chooses (``choose_papers``), with
    the configured ranker (``corpus``). Without one: a daily reader who was never sent
    anything. ``listed`` replaces the settled papers of the window (``paperfeed rank``
    ranks one stored day's list, settled or not).
    """
    frequency = subscriber.frequency if subscriber is not None else Frequency.DAILY
    limit = (
        max_papers
        if max_papers is not None
        else (subscriber.max_papers if subscriber is not None else 10)
    )
    since = local_date - timedelta(days=lookback_days(policy, frequency))
    subscriber_id = subscriber.id if subscriber is not None else None
    with session_scope(engine) as session:
        if listed is None:
            listed = settled_papers(session, since=since, until=local_date)
        previous: datetime | None = None
        sent: set[str] = set()
        learned = None
        if subscriber_id is not None and listed:
            previous = last_edition_at(session, [subscriber_id]).get(subscriber_id)
            ids = [p.paper.arxiv_id for p in listed]
            sent = sent_papers(session, [subscriber_id], ids).get(subscriber_id, set())
            learned = feedback_of(session, [subscriber_id]).get(subscriber_id)
    # The subscriber's ratings join the (possibly edited, previewed) interest text.
    parsed = with_feedback(parsed_interests(interests), learned)
    # Ranked as compose ranks: the window's papers indexed together, outside a transaction.
    ranker = corpus.ranker(engine)
    ranked: Ranking | None = None
    if listed:
        index = ranker.index_day([to_document(p.paper, upvotes=p.upvotes) for p in listed])
        ranked = ranker.rank(index, [parsed], top_k=len(listed))
    eligible, selection = choose_papers(
        ranked,
        0,
        listed=listed,
        by_votes=by_upvotes((p.paper.arxiv_id, p.upvotes) for p in listed),
        local_date=local_date,
        frequency=frequency,
        previous=previous,
        sent=sent,
        max_papers=limit,
        policy=policy,
    )
    return Picks(
        interests=parsed,
        local_date=local_date,
        since=since,
        listed=tuple(listed),
        eligible=eligible,
        selection=selection,
        threshold=ranker.threshold,
    )


def listed_on(engine: Engine, day: date) -> list[ListedPaper]:
    """One stored day's list, settled or not, as candidates for ``pick_papers``."""
    with session_scope(engine) as session:
        rows = papers_on(session, day)
    # When it was last seen stands for when it settled: only compared with a previous
    # edition, which interest text without a subscriber does not have.
    return [
        ListedPaper(
            paper, listing.listing_date, listing.last_seen_at, listing.upvotes, listing.comments
        )
        for paper, listing in rows
    ]
