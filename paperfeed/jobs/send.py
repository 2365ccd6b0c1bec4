"""The send job: drain the outbox, one pass or until stopped.

When it runs: every ``PAPERFEED_SEND_INTERVAL_MINUTES`` in the daemon, and right after the
first compose; in every ``paperfeed tick``; by hand with ``paperfeed send``; and without
pause in ``paperfeed worker`` (several of them on PostgreSQL). The sender itself (claim,
render, send, mark, batch after batch) lives with the outbox; this is the entry the
scheduler and the CLI call, with the channels the services name.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TYPE_CHECKING

from paperfeed.services import Services

if TYPE_CHECKING:
    from paperfeed.outbox.send_pass import Progress
    from paperfeed.outbox.summary import SendSummary


def worker_name() -> str:
    """This process as the outbox records who claimed a batch: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[-64:]


def send(
    services: Services,
    *,
    worker: str | None = None,
    only: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SendSummary:
    """One blocking pass: every pending delivery (of ``only``), or rendered only (dry run)."""
    # Looked up when called: a test stands in for the sender at its home.
    from paperfeed.outbox import worker as sender

    return sender.send_once(
        services.engine,
        services.settings,
        now=services.now,
        worker=worker or worker_name(),
        only=only,
        dry_run=dry_run,
        progress=progress,
        channels=services.channels,
    )


async def drain(
    services: Services, *, stop: asyncio.Event, idle_seconds: float, worker: str | None = None
) -> SendSummary:
    """Send until ``stop`` is set, finishing the batch in flight; sleeps when idle."""
    from paperfeed.outbox.worker import run_worker

    return await run_worker(
        services.engine,
        services.settings,
        channels=services.channels,
        now=services.now,
        worker=worker or worker_name(),
        stop=stop,
        idle_seconds=idle_seconds,
    )
