"""The heartbeat: a working sender's claims are renewed past the lease, a stopped sender's
lapse, settled deliveries are never renewed, and a dead sender of this host is let go at once.

The sender runs on a clock the test moves (claims and renewals are stamped with it); the
heartbeat thread renews every third of a 3-second lease in real time, and the test waits for
each renewal to show in the store before it moves on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from paperfeed.config import Settings
from paperfeed.outbox import send_pass
from paperfeed.outbox.channel import Parcel, Result
from paperfeed.outbox.heartbeat import dead_local_holders, free_dead_claims
from paperfeed.outbox.ledger import claim_batch, mark_sent_many, renew_claims
from paperfeed.outbox.send_pass import send_due
from paperfeed.store.db import session_scope
from paperfeed.store.deliveries import PaperRow
from paperfeed.store.models import Delivery
from tests.mailer.outbox_samples import T0, store_papers
from tests.outbox.channel_samples import ScriptedChat, add_person, compose

LEASE = timedelta(seconds=3)  # the smallest the settings allow: renewals every second


class Clock:
    """The sender's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def lease_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        send_lease_seconds=int(LEASE.total_seconds()),
    )


def _readers(engine: Engine, n: int) -> list[int]:
    """``n`` subscribers with a chat address and an edition each: ``n`` chat deliveries."""
    store_papers(engine)
    compose(engine, [add_person(engine, f"r{i}@example.com", email_digest=False) for i in range(n)])
    with session_scope(engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.kind == "chat")).all()
        return sorted(r.id for r in rows if r.id is not None)


def _claims(engine: Engine) -> dict[int, tuple[str, str | None, datetime | None]]:
    with session_scope(engine) as session:
        return {
            d.id: (d.status, d.claimed_by, d.claimed_at)
            for d in session.exec(select(Delivery).where(Delivery.kind == "chat"))
            if d.id is not None
        }


async def _renewed(engine: Engine, ids: Sequence[int], at: datetime) -> None:
    """Wait (a few heartbeats at most) until the claims on ``ids`` carry ``at``."""
    for _ in range(200):
        claims = _claims(engine)
        if all(claims[i][2] == at for i in ids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the claims on {list(ids)} were never renewed at {at}: {claims}")


def _rival_claims(engine: Engine, now: datetime, *, keep: bool = True) -> list[int]:
    """What another worker claims at ``now``; without ``keep`` its claim is rolled back."""
    with Session(engine) as session:
        taken = claim_batch(session, kind="chat", worker="rival", now=now, limit=100, lease=LEASE)
        if keep:
            session.commit()
        else:
            session.rollback()
    return [d.id for d in taken]


class SlowChat(ScriptedChat):
    """A chat service so slow that each batch outlasts the lease (on the test's clock); a
    rival worker tries to take the batch meanwhile."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.rival_took: list[int] = []
        self.settled_meanwhile: dict[int, tuple[str, str | None, datetime | None]] = {}

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        ids = [p.delivery_id for p in parcels]
        before = _claims(self.engine)
        for _ in range(2):  # twice two thirds of the lease: past it since the claim
            self.clock.now += LEASE * 2 / 3
            await _renewed(self.engine, ids, self.clock.now)
        rival = _rival_claims(self.engine, self.clock.now + LEASE / 2, keep=False)
        self.rival_took += [i for i in rival if i in ids]
        after = _claims(self.engine)
        # Deliveries settled by earlier batches of this pass were left alone meanwhile.
        self.settled_meanwhile.update(
            {i: after[i] for i, c in before.items() if c[0] == "sent" and after[i] != c}
        )
        return await super().deliver(parcels, papers)


def test_a_working_senders_claim_is_renewed_and_not_taken_after_the_lease(
    engine: Engine, lease_settings: Settings
) -> None:
    ids = _readers(engine, 3)
    clock = Clock()
    chat = SlowChat(engine, clock)
    summary = asyncio.run(
        send_due(engine, lease_settings, channel=chat, now=clock, worker="me", batch_size=2)
    )
    assert summary.sent == 3
    assert chat.batches == 2
    assert chat.rival_took == []
    assert chat.settled_meanwhile == {}  # the first batch, sent, was not renewed in the second
    assert {i: c[:2] for i, c in _claims(engine).items()} == {i: ("sent", "me") for i in ids}
    assert not [t for t in threading.enumerate() if t.name == "send-heartbeat"]


class DroppedChat(ScriptedChat):
    """A chat service whose connection drops mid-batch: some may have been taken."""

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        raise ConnectionResetError("the service hung up mid-batch")


def test_a_claim_its_sender_stopped_renewing_is_claimable_after_the_lease(
    engine: Engine, lease_settings: Settings
) -> None:
    ids = _readers(engine, 3)
    clock = Clock()
    with pytest.raises(ConnectionResetError):
        asyncio.run(send_due(engine, lease_settings, channel=DroppedChat(), now=clock, worker="me"))
    # The pass is over and its heartbeat with it: the batch stays claimed as it was.
    assert not [t for t in threading.enumerate() if t.name == "send-heartbeat"]
    assert _claims(engine) == {i: ("sending", "me", T0) for i in ids}
    assert _rival_claims(engine, T0 + LEASE - timedelta(seconds=1)) == []
    assert _rival_claims(engine, T0 + LEASE + timedelta(seconds=1)) == ids


def test_renewal_touches_only_the_workers_own_claims_still_sending(engine: Engine) -> None:
    ids = _readers(engine, 3)
    later = T0 + timedelta(seconds=20)
    with session_scope(engine, write_lock=True) as session:
        claim_batch(session, kind="chat", worker="me", now=T0, limit=2)
        claim_batch(session, kind="chat", worker="other", now=T0, limit=1, after_id=ids[1])
    with session_scope(engine) as session:
        mark_sent_many(session, {ids[0]: "<sent@x>"}, now=T0)
    with session_scope(engine) as session:
        assert renew_claims(session, ids, worker="me", now=later) == 1
    assert _claims(engine) == {
        ids[0]: ("sent", "me", T0),
        ids[1]: ("sending", "me", later),
        ids[2]: ("sending", "other", T0),
    }


def test_only_dead_senders_of_this_host_count_as_dead() -> None:
    gone = _dead_pid()
    live = os.getppid()
    names = [f"box:{gone}", f"box:{live}", f"other:{gone}", "box:7", "scheduler-12", "box:x"]
    # Our own name (pid 7) is an earlier life's only before this process claimed anything.
    assert dead_local_holders(names, host="box", pid=7, first_pass=True) == [
        f"box:{gone}",
        "box:7",
    ]
    assert dead_local_holders(names, host="box", pid=7, first_pass=False) == [f"box:{gone}"]
    long_host = "h" * 70  # names keep their last 64 characters, as worker_name cuts them
    cut = f"{long_host}:{gone}"[-64:]
    assert dead_local_holders([cut], host=long_host, pid=7, first_pass=False) == [cut]


def test_a_pass_frees_a_dead_local_senders_claims_at_once_and_leaves_the_rest(
    engine: Engine,
) -> None:
    ids = _readers(engine, 3)
    host = socket.gethostname()
    holders = [f"{host}:{_dead_pid()}", f"{host}:{os.getppid()}", f"elsewhere:{_dead_pid()}"]
    with session_scope(engine, write_lock=True) as session:
        for n, holder in enumerate(holders):
            claim_batch(session, kind="chat", worker=holder, now=T0, limit=1, after_id=ids[n] - 1)
    assert free_dead_claims(engine, now=T0 + timedelta(seconds=1)) == 1
    claims = _claims(engine)
    assert claims[ids[0]] == ("pending", None, None)
    assert claims[ids[1]] == ("sending", holders[1], T0)
    assert claims[ids[2]] == ("sending", holders[2], T0)


def _dead_pid() -> int:
    """The pid of a process that has just exited (and was reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(done.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} still exists")


def test_a_database_outage_longer_than_the_lease_is_waited_out_before_marking(
    engine: Engine, lease_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marking waits for the database past the lease (the heartbeat keeps the claim), so the
    batch the service took is marked sent, not left to be sent again."""
    ids = _readers(engine, 2)
    real_mark = send_pass._mark
    started = time.monotonic()
    outage_ends = started + 1.5 * LEASE.total_seconds()
    refused: list[datetime] = []
    rival_took: list[int] = []

    def clock() -> datetime:  # real time, from the editions' compose time on
        return T0 + timedelta(seconds=time.monotonic() - started)

    def mark_when_back(run: Any, built: Any, results: Any) -> None:
        now = clock()
        if time.monotonic() < outage_ends:
            refused.append(now)
            raise OperationalError("UPDATE delivery", {}, ConnectionRefusedError("refused"))
        # Claimed more than a lease ago, yet renewed meanwhile: nobody else can take them.
        rival_took.extend(_rival_claims(engine, now, keep=False))
        real_mark(run, built, results)

    monkeypatch.setattr(send_pass, "_mark", mark_when_back)
    chat = ScriptedChat()
    summary = asyncio.run(send_due(engine, lease_settings, channel=chat, now=clock, worker="me"))
    assert summary.sent == 2
    assert len(refused) >= 2
    assert refused[-1] - refused[0] > LEASE / 2
    assert rival_took == []
    assert {i: c[:2] for i, c in _claims(engine).items()} == {i: ("sent", "me") for i in ids}
