"""Running the sender: one blocking pass for the CLI and cron, and the long-running worker.

Every channel kind runs in its own loop, side by side, so a chat service that is down or slow
holds back only chat while mail flows; each kind pauses and reopens its channel on its own.
A kind's channel is opened only once something of its kind is due (opening the chat channel
imports apprise; a mail-only install never pays for it).

``send_once`` drains what is due now, every kind at once, and closes the channels.
``run_worker`` loops ``send_due`` per kind until told to stop, finishing the batches in
flight; a kind sleeps when it has nothing due and, when its channel pauses (a refused login,
a server that keeps failing), waits and starts over with a fresh channel. A database it
cannot reach (a restart) is logged and tried again after the idle pause. Signals are the
caller's job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.outbox import registry
from paperfeed.outbox.channel import Channel
from paperfeed.outbox.heartbeat import free_dead_claims_in
from paperfeed.outbox.ledger import count_due
from paperfeed.outbox.send_pass import Clock, Progress, send_due, subscriber_id_for
from paperfeed.outbox.summary import SendSummary
from paperfeed.store.db import database_error_reason, database_unavailable, session_scope

if TYPE_CHECKING:
    from paperfeed.mailer.transport import Transport

log = structlog.get_logger("paperfeed.send")

ChannelFactories = Mapping[str, Callable[[], Channel]]


def registered_channels(settings: Settings, kinds: Sequence[str] | None = None) -> ChannelFactories:
    """A factory per registered kind (or per kind in ``kinds``), opening from the settings."""

    def opener(kind: str) -> Callable[[], Channel]:
        return lambda: registry.open_channel(kind, settings)

    return {kind: opener(kind) for kind in (kinds or registry.kinds())}


def _due(engine: Engine, settings: Settings, kind: str, clock: Clock, only: int | None) -> int:
    lease = timedelta(seconds=settings.send_lease_seconds)
    with session_scope(engine) as session:
        due = count_due(session, kind=kind, now=clock(), subscriber_id=only, lease=lease)
        # A restart whose predecessor died holding the last batch sees nothing else due: the
        # dead sender's claims are freed and counted now, not after the lease.
        if due == 0 and free_dead_claims_in(session, now=clock()):
            due = count_due(session, kind=kind, now=clock(), subscriber_id=only, lease=lease)
        return due


def send_once(
    engine: Engine,
    settings: Settings,
    *,
    now: Clock,
    worker: str,
    only: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    channels: ChannelFactories | None = None,
) -> SendSummary:
    """One blocking pass over every kind due, channels opened and closed here (CLI, cron).

    ``channels`` replaces the registry's factories (tests, benchmarks). A dry run opens no
    channel: it counts what each kind would send.
    """
    factories = channels if channels is not None else registered_channels(settings)
    subscriber_id = subscriber_id_for(engine, only) if only else None
    parts: dict[str, tuple[SendSummary, int]] = {}

    def report(kind: str) -> Progress | None:
        if progress is None:
            return None
        tell = progress

        def each(summary: SendSummary, total: int) -> None:
            parts[kind] = (summary, total)
            combined = SendSummary(dry_run=dry_run)
            for name, (part, _) in parts.items():
                combined.add_kind(name, part)
            tell(combined, sum(t for _, t in parts.values()))

        return each

    async def one_kind(kind: str, open_channel: Callable[[], Channel]) -> SendSummary:
        if not dry_run and _due(engine, settings, kind, now, subscriber_id) == 0:
            return SendSummary()
        channel = None if dry_run else open_channel()
        try:
            return await send_due(
                engine,
                settings,
                channel=channel,
                kind=kind,
                now=now,
                worker=worker,
                only=only,
                dry_run=dry_run,
                progress=report(kind),
            )
        finally:
            if channel is not None:
                await channel.aclose()

    async def every_kind() -> SendSummary:
        kinds = list(factories)
        done = await asyncio.gather(
            *(one_kind(k, factories[k]) for k in kinds), return_exceptions=True
        )
        # Every kind finished its batch before an error of one is raised.
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        total = SendSummary(dry_run=dry_run)
        for kind, outcome in zip(kinds, done, strict=True):
            assert isinstance(outcome, SendSummary)
            total.add_kind(kind, outcome)
        return total

    return asyncio.run(every_kind())


async def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    now: Clock,
    worker: str,
    stop: asyncio.Event,
    transport_factory: Callable[[], Transport] | None = None,
    channels: ChannelFactories | None = None,
    idle_seconds: float = 5.0,
    pause_seconds: float = 60.0,
) -> SendSummary:
    """Drain the outbox, every kind in its own loop, until ``stop`` is set; returns totals.

    ``channels`` replaces the registry's factories; ``transport_factory`` (the older way)
    replaces only email's transport. Idle, or without a database, a kind sleeps
    ``idle_seconds``; paused, it waits ``pause_seconds`` and opens a fresh channel.
    """
    factories = dict(channels if channels is not None else registered_channels(settings))
    if transport_factory is not None:
        from paperfeed.mailer.email_channel import EmailChannel

        make_transport = transport_factory
        factories["email"] = lambda: EmailChannel(settings, make_transport(), clock=now)
    kinds = list(factories)
    quit_ = asyncio.Event()

    async def watch() -> None:
        await stop.wait()
        quit_.set()

    watcher = asyncio.create_task(watch())
    tasks = [
        asyncio.create_task(
            _kind_loop(
                engine,
                settings,
                kind,
                factories[kind],
                now=now,
                worker=worker,
                stop=quit_,
                idle_seconds=idle_seconds,
                pause_seconds=pause_seconds,
            )
        )
        for kind in kinds
    ]
    try:
        done = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        quit_.set()
        watcher.cancel()
    totals = SendSummary()
    for kind, outcome in zip(kinds, done, strict=True):
        if isinstance(outcome, BaseException):
            raise outcome
        totals.add_kind(kind, outcome)
    log.info("worker.stopped", worker=worker, summary=totals.line())
    return totals


async def _kind_loop(
    engine: Engine,
    settings: Settings,
    kind: str,
    open_channel: Callable[[], Channel],
    *,
    now: Clock,
    worker: str,
    stop: asyncio.Event,
    idle_seconds: float,
    pause_seconds: float,
) -> SendSummary:
    totals = SendSummary()
    channel: Channel | None = None
    try:
        while not stop.is_set():
            try:
                if channel is None:
                    if _due(engine, settings, kind, now, None) == 0:
                        await _sleep_unless(stop, idle_seconds)
                        continue
                    channel = open_channel()
                summary = await send_due(
                    engine,
                    settings,
                    channel=channel,
                    kind=kind,
                    now=now,
                    worker=worker,
                    should_stop=stop.is_set,
                )
            except Exception as exc:
                if not database_unavailable(exc):
                    # This kind cannot go on; the others finish their batches and stop too.
                    stop.set()
                    raise
                # A database restart is not a reason to die: wait for it like for more work.
                log.error(
                    "worker.database_unavailable",
                    kind=kind,
                    error=database_error_reason(exc),
                    retry_in=idle_seconds,
                )
                await _sleep_unless(stop, idle_seconds)
                continue
            totals.add(summary)
            if summary.paused_reason:
                await channel.aclose()
                channel = None
                await _sleep_unless(stop, pause_seconds)
            elif summary.done == 0:
                await _sleep_unless(stop, idle_seconds)
    finally:
        if channel is not None:
            await channel.aclose()
    return totals


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
