"""Structured logging: readable lines on a terminal, one JSON object per line otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_HANDLER_NAME = "paperfeed-stderr"


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), not the one at setup."""

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


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Send structlog (and stdlib logging) to stderr at ``level``; JSON unless on a TTY."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # JSON lines carry a failed job's exception as text; the console renderer
            # formats exc_info itself (and prettier) when this is left out.
            *([structlog.processors.format_exc_info] if as_json else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = _CurrentStderr()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(numeric)
    # Each request and migration step at INFO would drown the lines that matter.
    for chatty in ("httpx", "httpcore", "alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
