"""What every command module shares: the consoles, the error edge, the settings and the store.

Exit codes: 0 done; 1 the work ran but part of it failed (a day errored, a mail was not
sent); 2 nothing was done: bad input (an address, a date, interests, a CSV row), the
configuration, the database, or the command line itself. Errors are one line; ``--debug``
shows the traceback.

Nothing heavy is imported here: ``--help``, ``--version`` and the ``subscribers`` commands
load this module and must not pay for numpy, SQLAlchemy's dialects, FastAPI or APScheduler.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from paperfeed.errors import InputError, PaperfeedError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from paperfeed.config import Settings

out = Console()
err = Console(stderr=True)


class ErrorEdge(TyperGroup):
    """Turns the library's deliberate errors into one line and an exit code at the edge."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = error_line(exc)
            if message is None or (isinstance(ctx.obj, State) and ctx.obj.debug):
                raise
            # escape(): a message may hold brackets ('paperfeed[semantic]') that are not markup.
            err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            # Every deliberate error stops a command before it did its work (input is checked
            # first, imports are all or nothing), so it is 2; 1 is said by the commands whose
            # work ran in part (a crawl day, a mail).
            raise typer.Exit(2) from exc


def error_line(exc: Exception) -> str | None:
    """The one line a deliberate error is shown as, or None for a bug (keeps its traceback)."""
    if isinstance(exc, PaperfeedError):
        return str(exc)
    # Only commands that opened the database have SQLAlchemy loaded; before that no error
    # can be one of its errors, and --help need not import it to find out.
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import SQLAlchemyError

        from paperfeed.store.db import database_error_reason, database_unavailable

        if isinstance(exc, SQLAlchemyError) and database_unavailable(exc):
            # The database went away mid-command (restart, network). Every step is its
            # own idempotent transaction, so running the command again resumes it.
            return (
                f"the database stopped answering: {database_error_reason(exc)}; "
                "what was done so far is kept: run the command again when it is back"
            )
    return None


@dataclass
class State:
    """What the root callback learnt for every command (``--debug``)."""

    debug: bool = False


def command_group(help_text: str) -> typer.Typer:
    """A command group that shows deliberate errors as one line (``ErrorEdge``)."""
    return typer.Typer(
        cls=ErrorEdge,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        add_completion=False,
    )


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def read_settings() -> Settings:
    """The settings from the environment (and ``.env``), checked."""
    from paperfeed.config import load_settings

    return load_settings()


@contextmanager
def open_database(*, migrated: bool = True) -> Iterator[Engine]:
    """The configured database (checked to be at the newest schema), closed afterwards."""
    from paperfeed.store.db import make_engine
    from paperfeed.store.schema import open_store

    url = read_settings().database_url
    engine = open_store(url) if migrated else make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def parse_day(value: str, option: str) -> date:
    """``value`` of ``option`` as a date; an ``InputError`` (exit 2) if it is not one."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{option} {value!r} is not a date; use YYYY-MM-DD") from exc
