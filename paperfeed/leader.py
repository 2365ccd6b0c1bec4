"""The leader lock: at most one scheduler per database runs the jobs; a standby takes over.

The lock only saves work (every job is idempotent), and it vanishes with the process that
holds it. PostgreSQL holds an advisory lock on a dedicated connection; SQLite a file lock
beside the database. A PostgreSQL restart ends the lock's session and the lock with it,
silently, so the leader ``confirm``s it still holds the lock before each job and every few
seconds.
"""

from __future__ import annotations

import threading
import zlib
from contextlib import AbstractContextManager
from types import TracebackType

import structlog
from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from paperfeed.config import Settings
from paperfeed.store.db import database_error_reason, database_unavailable

log = structlog.get_logger("paperfeed.scheduler")

LOCK_KEY = zlib.crc32(b"paperfeed scheduler leader")
# Whether this session holds the lock: a bigint key shows as classid (its high half, 0 here),
# objid (its low half) and objsubid 1.
HOLDS_LOCK = text(
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = 0 AND objid = CAST(:k AS bigint)::oid"
    " AND objsubid = 1)"
)


class LeaderLock(AbstractContextManager["LeaderLock"]):
    """Held by at most one process per database; released when the process dies.

    On PostgreSQL the lock lives as long as the session that took it: a server restart or a
    dropped connection loses it silently, so the leader asks ``confirm`` before it works.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        # The job threads confirm the lock on the same connection as the scheduler's thread.
        self._guard = threading.Lock()
        self._folder = settings.var_dir
        self._file = FileLock(str(settings.var_dir / "scheduler.lock"))
        # FileLock.is_locked answers per thread, and the jobs ask from their own threads.
        self._file_held = False

    @property
    def held(self) -> bool:
        """Whether this process holds the lock, as of its last ``try_acquire`` or ``confirm``."""
        return self._connection is not None or self._file_held

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks. Raises if the database cannot be reached."""
        if self.engine.dialect.name == "postgresql":
            with self._guard:
                connection = self.engine.connect()
                try:
                    taken = bool(
                        connection.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}
                        ).scalar()
                    )
                    connection.commit()
                except BaseException:
                    _discard(connection)
                    raise
                if taken:
                    self._connection = connection
                else:
                    connection.close()
                return taken
        self._folder.mkdir(parents=True, exist_ok=True)
        try:
            self._file.acquire(timeout=0)
        except Timeout:
            return False
        self._file_held = True
        return True

    def confirm(self) -> bool:
        """Whether the lock is still ours: its session alive and holding it. Never raises; a
        lock found lost is let go, and ``held`` turns False."""
        if self.engine.dialect.name != "postgresql":
            return self._file_held
        with self._guard:
            connection = self._connection
            if connection is None:
                return False
            try:
                held = bool(connection.execute(HOLDS_LOCK, {"k": LOCK_KEY}).scalar())
                connection.commit()
                reason = "its session no longer holds it"
            except SQLAlchemyError as exc:
                held, reason = False, database_error_reason(exc)
            if not held:
                self._connection = None
                _discard(connection)
                log.warning("leader.lock_lost", reason=reason)
            return held

    def wait(self, stop: threading.Event, *, poll: float = 5.0) -> bool:
        """Block until this process leads (True) or ``stop`` is set (False); a database that
        cannot be reached is waited for like a lock held elsewhere."""
        said = ""
        while not stop.is_set():
            taken = try_acquire_or_reason(self)
            if taken is True:
                log.info("leader.acquired")
                return True
            if taken is False and said != "waiting":
                log.info("leader.waiting", reason="another scheduler holds the lock")
                said = "waiting"
            elif isinstance(taken, str) and said != "unavailable":
                log.warning("leader.database_unavailable", error=taken, retry_in=poll)
                said = "unavailable"
            stop.wait(poll)
        return False

    def release(self) -> None:
        """Give the lock up (also happens when the process dies); never raises."""
        with self._guard:
            connection, self._connection = self._connection, None
            if connection is not None:
                # The connection goes back to the pool, and a session-level advisory lock
                # would go with it: unlock explicitly first.
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    connection.commit()
                    connection.close()
                except SQLAlchemyError as exc:
                    # The session ended (a database restart) and took the lock with it.
                    log.info("leader.release_skipped", reason=database_error_reason(exc))
                    _discard(connection)
        if self._file.is_locked:
            self._file.release()
            self._file_held = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _discard(connection: Connection) -> None:
    """Close a lock connection for good, not back into the pool: its session, and any lock
    it may still hold, end with it."""
    try:
        connection.invalidate()
        connection.close()
    except SQLAlchemyError as exc:
        log.debug("leader.discard_failed", reason=database_error_reason(exc))


def try_acquire_or_reason(lock: LeaderLock) -> bool | str:
    """``lock.try_acquire()``, or why the database cannot be reached now."""
    try:
        return lock.try_acquire()
    except SQLAlchemyError as exc:
        if not database_unavailable(exc):
            raise
        return database_error_reason(exc)
