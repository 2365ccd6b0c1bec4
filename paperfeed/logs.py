"""Structured logging: readable lines on a terminal, one JSON object per line otherwise.

structlog's own events and every stdlib logger's lines (uvicorn's, APScheduler's) go through
the same renderer: structlog's ``ConsoleRenderer`` on a TTY, ``JSONRenderer`` off one, so a
log shipper never meets a line of another format. Retries that stamina schedules are logged
as one readable line (what failed, which attempt, how long until the next), not stamina's
internals; code that names what it retries (the crawler: URL and day) logs its own line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

_HANDLER_NAME = "paperfeed-stderr"
_own_retry_lines: ContextVar[bool] = ContextVar("paperfeed_own_retry_lines", default=False)
retry_log = structlog.get_logger("paperfeed.retry")


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), not the one at setup.

    ``StreamHandler.emit`` writes the line and its newline in one call, like ``_stderr_logger``.
    """

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _stderr_logger(*_args: Any) -> structlog.WriteLogger:
    # One write per line (PrintLogger writes the line, then its newline): a line of the
    # stdlib handler (uvicorn's) cannot land in between and glue two lines into one.
    return structlog.WriteLogger(file=sys.stderr)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _log_retry(details: RetryDetails) -> None:
    """stamina's on-retry hook: one line saying what failed and when the next try comes."""
    if _own_retry_lines.get():
        return
    retry_log.warning(
        "retry",
        attempt=details.retry_num + 1,
        wait_seconds=round(details.wait_for, 1),
        error=_reason(details.caused_by),
    )


@contextmanager
def own_retry_lines() -> Iterator[None]:
    """Within this block the caller logs its retries itself (naming what it retries)."""
    token = _own_retry_lines.set(True)
    try:
        yield
    finally:
        _own_retry_lines.reset(token)


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Send structlog and stdlib logging to stderr at ``level``; JSON unless on a TTY."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    # JSON lines carry an exception as text; the console renderer formats exc_info itself
    # (and prettier) when this is left out.
    exceptions: list[structlog.typing.Processor] = (
        [structlog.processors.format_exc_info] if as_json else []
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # A stdlib record (uvicorn's "Uvicorn running on ...") becomes an event like ours.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            renderer,
        ],
    )
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = _CurrentStderr()
        handler.set_name(_HANDLER_NAME)
        root.addHandler(handler)
    handler.setFormatter(formatter)
    root.setLevel(numeric)
    # Each request and migration step at INFO would drown the lines that matter.
    for chatty in ("httpx", "httpcore", "alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
    set_on_retry_hooks([_log_retry])
