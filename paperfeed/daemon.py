"""The ``paperfeed run`` process: the web app in the main thread, the scheduler beside it.

The daemon binds its port itself, before anything else, so a port in use is one clear line
(exit 2), and ``--port 0`` or a derived public URL know the real port. It owns the signals
for the whole process: the first SIGTERM/SIGINT stops uvicorn and the scheduler (the job
under way ends at its next wait or step); whatever still runs after ``STOP_TIMEOUT_SECONDS``
is abandoned like a crash (every job is idempotent and resumes on the next start), so the
process exits 0 within 5 s in every state; a second signal exits at once.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

import structlog
import uvicorn
from sqlalchemy import Engine

from paperfeed import __version__
from paperfeed.config import Settings
from paperfeed.errors import ConfigError
from paperfeed.http_limits import bounded_protocol
from paperfeed.scheduler import Jobs, run_scheduler
from paperfeed.startup import http_url, public_address, ranker_summary
from paperfeed.web.app import create_app

log = structlog.get_logger("paperfeed.daemon")

# How long after the stop signal the daemon waits for the job under way (a crawl request, a
# send batch) before it leaves it to the next start: SIGTERM must end the process within 5 s.
STOP_TIMEOUT_SECONDS = 4.0
# Open requests get this long to finish once the web app stops listening.
WEB_GRACE_SECONDS = 1
STOPPED_LINE = "paperfeed stopped"
FORCED_EXIT = 130  # the shell's code for "ended by Ctrl-C"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon's ``_StopRequests`` stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _StopRequests:
    """SIGTERM/SIGINT: the first asks everything to stop, the second ends the process now."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.server: uvicorn.Server | None = None  # set once built; a stop may come first
        self.received = 0
        self.first_at: float | None = None  # time.monotonic() of the first signal

    def serving(self, server: uvicorn.Server) -> None:
        """Stop ``server`` on the first signal (at once if it came while it was being built)."""
        self.server = server
        server.should_exit = self.stop.is_set()

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received += 1
        name = signal.Signals(signum).name
        if self.received == 1:
            self.first_at = time.monotonic()
            log.info("daemon.stopping", signal=name)
            self.stop.set()
            if self.server is not None:
                self.server.should_exit = True
            return
        log.warning("daemon.stop_forced", signal=name, reason="a second stop signal")
        _exit_now(FORCED_EXIT)

    def seconds_left(self) -> float:
        """What remains of ``STOP_TIMEOUT_SECONDS`` since the first signal (all, without one)."""
        if self.first_at is None:
            return STOP_TIMEOUT_SECONDS
        return max(0.0, self.first_at + STOP_TIMEOUT_SECONDS - time.monotonic())

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def _exit_now(code: int) -> None:
    """End the process without waiting for threads (a job stuck in a request or a query)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; a port in use is a ``ConfigError`` naming the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may bind while the old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use (another paperfeed?): choose another "
                f"with --port, or PORT= with make run"
            ) from exc
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port"
        ) from exc
    sock.set_inheritable(True)
    return sock


def serve(
    settings: Settings,
    engine: Engine,
    *,
    host: str,
    port: int,
    scheduler: bool = False,
) -> None:
    """Serve the web app on ``host:port`` until a signal; with ``scheduler``, run the jobs too.

    Links in mails and feeds use ``PAPERFEED_PUBLIC_URL``, or this address when it is unset.
    """
    sock = listen(host, port)
    stop = threading.Event()
    stop_requests = _StopRequests(stop)
    stop_requests.install()
    port = int(sock.getsockname()[1])
    address = public_address(settings, host=host, port=port)
    settings = settings.model_copy(update={"public_url": address.url})
    # Built before serving, so a hybrid ranker without its extra fails at start.
    jobs = Jobs(settings, engine, stop=stop) if scheduler else None
    app = create_app(settings, engine=engine)
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            # Behind a reverse proxy the client address comes from X-Forwarded-For, believed
            # only from PAPERFEED_TRUSTED_PROXIES (uvicorn's default trusts any local peer).
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            timeout_graceful_shutdown=WEB_GRACE_SECONDS,
            # Bounds for abusive clients (issue 14, item 4): request heads limited in size and
            # time (uvicorn bounds neither), idle keep-alive, and connections beyond which
            # requests get 503. What a reverse proxy adds is in SECURITY.md.
            http=bounded_protocol(
                max_head_bytes=settings.web_max_header_bytes,
                head_timeout=settings.web_header_timeout_seconds,
            ),
            limit_concurrency=settings.web_max_connections,
            timeout_keep_alive=settings.web_keep_alive_seconds,
        )
    )
    stop_requests.serving(server)
    _announce(settings, engine, listening=http_url(host, port), scheduler=scheduler)
    if address.warning:
        log.warning("config.public_url", warning=address.warning)
    worker: threading.Thread | None = None
    if jobs is not None:
        worker = threading.Thread(target=run_scheduler, args=(jobs,), name="scheduler", daemon=True)
        worker.start()
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=stop_requests.seconds_left())
            if worker.is_alive():
                log.warning(
                    "daemon.stop_abandoned",
                    seconds=STOP_TIMEOUT_SECONDS,
                    reason="the job under way did not finish in time; it resumes on the next start",
                )
                print(STOPPED_LINE, flush=True)
                _exit_now(0)


def _announce(settings: Settings, engine: Engine, *, listening: str, scheduler: bool) -> None:
    """The start banner: where the web app listens, what mails link to, which ranker runs."""
    # The line uvicorn writes when it binds the socket itself (people and tests look for it).
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s (Press CTRL+C to quit)", listening
    )
    log.info(
        "paperfeed.started",
        version=__version__,
        web=listening,
        public_url=settings.public_url,
        ranker=ranker_summary(settings),
        database=engine.url.get_backend_name(),
        scheduler="on" if scheduler else "off (web only)",
        stop="Ctrl-C or SIGTERM",
    )
