"""Running the sender: one blocking pass for the CLI and cron, and the long-running worker.

``send_once`` opens the transport the settings name, drains the outbox once and closes it.
``run_worker`` loops ``send_due`` until told to stop, finishing the batch in flight; it
sleeps when the outbox is empty and, when the transport pauses (a refused login, a server
that keeps failing), waits and starts over with a fresh one. A database it cannot reach (a
restart) is logged and tried again after the idle pause. Signals are the caller's job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.mailer.outbox import Clock, Progress, SendSummary, send_due
from paperfeed.mailer.transport import Transport
from paperfeed.mailer.transports import open_transport
from paperfeed.store.db import database_error_reason, database_unavailable

log = structlog.get_logger("paperfeed.send")


def transport_for(settings: Settings) -> Transport:
    """The transport the settings name: SMTP with its pool and limits, or the file outbox."""
    return open_transport(
        smtp_url=settings.smtp_url,
        outbox_dir=settings.outbox_dir,
        pool_size=settings.smtp_pool_size,
        rate=settings.smtp_rate,
        max_attempts=settings.smtp_max_attempts,
        error_threshold=settings.smtp_error_threshold,
    )


def send_once(
    engine: Engine,
    settings: Settings,
    *,
    now: Clock,
    worker: str,
    only: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SendSummary:
    """One blocking pass with the settings' transport, opened and closed here (CLI, cron)."""

    async def one_pass() -> SendSummary:
        transport = None if dry_run else transport_for(settings)
        try:
            return await send_due(
                engine,
                settings,
                transport=transport,
                now=now,
                worker=worker,
                only=only,
                dry_run=dry_run,
                progress=progress,
            )
        finally:
            if transport is not None:
                await transport.aclose()

    return asyncio.run(one_pass())


async def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    transport_factory: Callable[[], Transport],
    now: Clock,
    worker: str,
    stop: asyncio.Event,
    idle_seconds: float = 5.0,
    pause_seconds: float = 60.0,
) -> SendSummary:
    """Drain the outbox until ``stop`` is set, finishing the batch in flight; returns totals.

    Idle, or without a database, it sleeps ``idle_seconds``; paused (a refused login, too
    many errors), it waits ``pause_seconds`` and opens a fresh transport.
    """
    totals = SendSummary()
    transport = transport_factory()
    try:
        while not stop.is_set():
            try:
                summary = await send_due(
                    engine,
                    settings,
                    transport=transport,
                    now=now,
                    worker=worker,
                    should_stop=stop.is_set,
                )
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                # A database restart is not a reason to die: wait for it like for more mail.
                log.error(
                    "worker.database_unavailable",
                    error=database_error_reason(exc),
                    retry_in=idle_seconds,
                )
                await _sleep_unless(stop, idle_seconds)
                continue
            totals.add(summary)
            if summary.paused_reason:
                await transport.aclose()
                await _sleep_unless(stop, pause_seconds)
                transport = transport_factory()
            elif summary.done == 0:
                await _sleep_unless(stop, idle_seconds)
    finally:
        await transport.aclose()
    log.info("worker.stopped", worker=worker, summary=totals.line())
    return totals


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
