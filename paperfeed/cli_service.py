"""The commands that run the service: the daemon, the web app alone, the send worker, a cron tick.

Each builds its parts from the settings and hands over to the daemon, the scheduler or the
outbox worker; what they log goes to the configured log, not to the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from paperfeed.cli_base import open_database, out, read_settings

if TYPE_CHECKING:
    from paperfeed.outbox.summary import SendSummary


def run(
    host: Annotated[str, typer.Option(help="Address the web app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the web app listens on.")] = 8000,
) -> None:
    """Run the daemon: the scheduler (crawl, compose, send) and the web app in one process."""
    from paperfeed import daemon
    from paperfeed.logs import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    with open_database() as engine:  # the daemon logs where it listens and what mails link to
        daemon.serve(settings, engine, host=host, port=port, scheduler=True)
    out.print(daemon.STOPPED_LINE, highlight=False)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web app only: subscribe, preferences, archive, feeds."""
    from paperfeed import daemon
    from paperfeed.logs import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    with open_database() as engine:
        daemon.serve(settings, engine, host=host, port=port)


def worker(
    idle: Annotated[
        float, typer.Option(min=0.1, help="Seconds to sleep when the outbox is empty.")
    ] = 5.0,
) -> None:
    """Drain the outbox until stopped; run several on PostgreSQL for more throughput."""
    import asyncio
    import signal

    from paperfeed.jobs.send import drain
    from paperfeed.logs import configure_logging
    from paperfeed.services import Services

    settings = read_settings()
    configure_logging(settings.log_level)

    async def until_stopped(services: Services) -> SendSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # SIGTERM (systemd, docker stop) and SIGINT finish the batch in flight, then exit 0.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await drain(services, stop=stop, idle_seconds=idle)

    with Services.from_settings(settings) as services:
        totals = asyncio.run(until_stopped(services))
    out.print(f"worker stopped: {totals.line()}", highlight=False, soft_wrap=True)


def tick(
    housekeeping: Annotated[
        bool, typer.Option("--housekeeping", help="Also prune logs and refresh statistics.")
    ] = False,
) -> None:
    """Run every due job once (crawl, compose, send), for cron or systemd timers."""
    from paperfeed.logs import configure_logging
    from paperfeed.scheduler import Jobs
    from paperfeed.scheduler import tick as run_tick

    settings = read_settings()
    configure_logging(settings.log_level)
    with open_database() as engine:
        summary = run_tick(Jobs(settings, engine), housekeeping=housekeeping)
    # One line per tick for cron's mail and logs: each job with what it did.
    out.print(summary.line(), highlight=False, soft_wrap=True)
