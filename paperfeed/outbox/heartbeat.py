"""Claim liveness: a working sender's claims are renewed, a dead sender's are freed.

A claim lasts ``send_lease_seconds`` (30 s by default) unless renewed. While a send pass
holds a batch (building, sending, waiting to mark), a ``Heartbeat`` thread renews the claim
every third of the lease, so a long batch (a slow mail server, a chat service that rate
limits) keeps its claim however long it takes, and a sender that stops (``kill -9``, a lost
machine) lets go within the lease. A thread, not an asyncio task, so a channel that holds
the event loop (rendering 500 mails) cannot starve it.

A sender is named ``host:pid`` (``paperfeed.jobs.send.worker_name``). A pass first frees the
claims of senders on this host whose process is gone, so a restart after a crash sends the
dead process's batch at once instead of after the lease; on the process's first pass that
includes claims under its own name, left by an earlier life with the same pid (a restarted
container). A pid reused since only makes a dead sender look alive: its claims then wait for
the lease, as claims of other hosts always do. Hosts sharing a database need distinct names.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from paperfeed.outbox.ledger import claim_holders, release_claims_of, renew_claims
from paperfeed.store.db import database_error_reason, database_unavailable, session_scope

log = structlog.get_logger("paperfeed.send")

FAILED_RETRY_SECONDS = 1.0  # after a failed renewal: the database may be back any moment

_first_pass = threading.Lock()  # released never: held once the process's first pass ran


class Heartbeat:
    """Renews, from a thread, the claims of ``worker`` on the deliveries it holds.

    ``hold`` adds a claimed batch; ``settling`` wraps a write that marks or releases
    deliveries and stops renewing them once it succeeds. Renewals and those writes never
    overlap (one lock), so they cannot deadlock on the rows both update (PostgreSQL) and a
    renewal never follows a mark it raced.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        worker: str,
        lease: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.worker = worker
        self.clock = clock
        self.every = lease.total_seconds() / 3
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name="send-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def held(self) -> frozenset[int]:
        """The deliveries whose claims are being renewed."""
        with self._lock:
            return frozenset(self._held)

    def hold(self, ids: Iterable[int]) -> None:
        """Renew the claims on ``ids`` from now on."""
        with self._lock:
            self._held.update(ids)

    def drop(self, ids: Iterable[int]) -> None:
        """Stop renewing ``ids``: left claimed (a failed pass), they lapse after the lease."""
        with self._lock:
            self._held.difference_update(ids)

    @contextmanager
    def settling(self, ids: Iterable[int]) -> Iterator[None]:
        """Around a write that settles ``ids`` (marks or releases them): no renewal runs
        meanwhile, and once it succeeded they are no longer renewed."""
        with self._lock:
            yield
            self._held.difference_update(ids)

    def beat(self) -> int:
        """Renew the held claims now; returns how many were still this worker's."""
        with self._lock:
            ids = sorted(self._held)
            if not ids:
                return 0
            with session_scope(self.engine) as session:
                renewed = renew_claims(session, ids, worker=self.worker, now=self.clock())
        if renewed < len(ids):
            # Settled by this worker without ``settling`` (cannot happen) or taken over by
            # another after a renewal came too late (a database outage longer than the lease).
            log.warning("send.claims_lost", worker=self.worker, held=len(ids), renewed=renewed)
        return renewed

    def _run(self) -> None:
        wait = self.every
        while not self._stop.wait(wait):
            try:
                self.beat()
                wait = self.every
            except Exception as exc:
                # Never let the thread die: the next renewal may succeed, and until the lease
                # ends nobody else may take the claims anyway.
                if database_unavailable(exc):
                    log.warning("send.heartbeat_failed", error=database_error_reason(exc))
                else:
                    log.exception("send.heartbeat_failed")
                wait = min(self.every, FAILED_RETRY_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def dead_local_holders(names: Iterable[str], *, host: str, pid: int, first_pass: bool) -> list[str]:
    """Of the claim holders ``names``, those that are senders of this host known dead.

    A name is ``host:pid`` cut to its last 64 characters (the column's size). Our own name
    counts as dead only on the process's first pass, before it claimed anything.
    """
    dead = []
    for name in names:
        _, sep, tail = name.rpartition(":")
        if not sep or not tail.isdigit():
            continue
        holder = int(tail)
        if f"{host}:{holder}"[-64:] != name:
            continue
        if holder > 0 and (first_pass if holder == pid else not _alive(holder)):
            dead.append(name)
    return dead


def free_dead_claims(engine: Engine, *, now: datetime) -> int:
    """Put back in the queue the deliveries claimed by dead senders of this host; returns how
    many. A database that cannot be reached skips it (0): the lease frees them later anyway,
    and the pass that asked meets the outage in its own queries."""
    try:
        with session_scope(engine) as session:
            return free_dead_claims_in(session, now=now)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("send.dead_claims_unchecked", error=database_error_reason(exc))
        return 0


def free_dead_claims_in(session: Session, *, now: datetime) -> int:
    """``free_dead_claims`` in the caller's transaction."""
    first_pass = _first_pass.acquire(blocking=False)
    dead = dead_local_holders(
        claim_holders(session), host=socket.gethostname(), pid=os.getpid(), first_pass=first_pass
    )
    freed = release_claims_of(session, dead, now=now)
    if freed:
        log.warning("send.dead_claims_freed", senders=dead, deliveries=freed)
    return freed
