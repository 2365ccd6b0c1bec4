"""The ``paperfeed run`` process: the web app in the main thread, the scheduler beside it.

uvicorn owns the signals while it serves; when it stops (SIGTERM, SIGINT) the scheduler is
told to stop too, finishes the pass under way and the process exits 0.
"""

from __future__ import annotations

import threading

import structlog
import uvicorn
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.scheduler import Jobs, run_scheduler, stop_on_signals
from paperfeed.web.app import create_app

log = structlog.get_logger("paperfeed.daemon")

# How long a stopping daemon waits for the job under way (a crawl day, a send batch).
STOP_TIMEOUT_SECONDS = 60.0


def serve(
    settings: Settings,
    engine: Engine,
    *,
    host: str,
    port: int,
    jobs: Jobs | None = None,
) -> None:
    """Serve the web app on ``host:port`` until a signal; with ``jobs``, run the scheduler too."""
    app = create_app(settings, engine=engine)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        # Behind a reverse proxy the client address comes from X-Forwarded-For (rate limits).
        proxy_headers=True,
    )
    server = uvicorn.Server(config)
    scheduler: threading.Thread | None = None
    if jobs is not None:
        # uvicorn re-raises the signal it caught once it has shut down; our handler (restored
        # by uvicorn) turns that into a stop request instead of a kill.
        stop_on_signals(jobs.stop)
        scheduler = threading.Thread(target=run_scheduler, args=(jobs,), name="scheduler")
        scheduler.start()
    try:
        server.run()
    finally:
        if jobs is not None and scheduler is not None:
            jobs.stop.set()
            scheduler.join(timeout=STOP_TIMEOUT_SECONDS)
            if scheduler.is_alive():
                log.warning("daemon.stop_timeout", seconds=STOP_TIMEOUT_SECONDS)
