"""Engines and sessions for SQLite and PostgreSQL, with the settings each needs to be safe.

SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout, and an explicit
``BEGIN`` so that the outbox can take the write lock up front (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlmodel import Session, create_engine

from paperfeed.config import redacted_url
from paperfeed.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Execution option that makes a SQLite transaction start with the write lock held.
IMMEDIATE = "paperfeed_immediate"


def normalise_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``, creating the SQLite file's folder, with a clear error."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        # The message shows the URL without its password (it may be the malformed part).
        raise StoreError(
            f"PAPERFEED_DATABASE_URL {redacted_url(url)!r} is not a database URL; use "
            "sqlite:///var/paperfeed.db or postgresql+psycopg://user@host/dbname"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **kwargs)
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(
            f"PAPERFEED_DATABASE_URL uses {parsed.get_backend_name()!r}; paperfeed supports "
            "sqlite and postgresql"
        )
    try:
        return create_engine(url, pool_pre_ping=True, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot load the driver for {parsed.drivername!r}: {exc}") from exc


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        file = Path(database).expanduser().resolve()
        folder = file.parent
        try:
            # Private from the start: the store holds addresses and the keys to every
            # subscriber's pages. SQLite gives its -wal and -shm files the database's mode.
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not file.exists():
                os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process created it first, with the same mode
        except OSError as exc:
            raise StoreError(
                f"cannot create the database folder {folder}: {exc.strerror}; choose a "
                "writable PAPERFEED_VAR_DIR or PAPERFEED_DATABASE_URL"
            ) from exc
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred-only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def check_connection(engine: Engine) -> None:
    """Open one connection, turning failures into a StoreError that says what to fix."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)}: "
            f"{database_error_reason(exc)}; check PAPERFEED_DATABASE_URL and that the server "
            "is running"
        ) from exc


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached now (down, restarting, a dropped
    connection, SQLite busy), which a later try may get past; False for bugs and conflicts."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError)


def database_error_reason(exc: BaseException) -> str:
    """The driver's first line for a database error: no SQL, no parameters."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def session_scope(engine: Engine, *, write_lock: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    ``write_lock`` takes SQLite's write lock at BEGIN so read-then-write sections (claiming the
    outbox) cannot interleave; PostgreSQL uses row locks instead and ignores it.
    """
    with Session(engine, expire_on_commit=False) as session:
        if write_lock and engine.dialect.name == "sqlite":
            session.connection(execution_options={IMMEDIATE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
