"""Back in seconds: a sender killed with SIGKILL mid-send and restarted at once delivers every
due digest within a minute of the restart, with the default 30-second lease, on SQLite and
PostgreSQL, and sends nothing twice beyond the batch that was in flight.

The real ``paperfeed worker`` sends to an aiosmtpd sink and is killed halfway through its
second batch (half of it received, none of it marked). Restarted on the same host, it sees
that the claims' holder (``host:pid``) is gone and sends that batch at once. A sender lost
on another host cannot be recognised: its claims, no longer renewed, lapse within the lease.
Each test prints its measured restart-to-all-delivered time.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, DeliveryStatus
from tests.faults.faults_process_samples import kill_hard, process_env, start, wait_for
from tests.support.cycle_samples import (
    MessageIdSink,
    delivery_statuses,
    running_sink,
    seed_subscribers,
    store_settled_days,
)
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import fixture_items, synthetic_days
from tests.support.ports import free_port

pytestmark = [pytest.mark.faults, pytest.mark.slow]

READERS = 300
BATCH = 100  # deliveries a sender claims at once: the in-flight bound on duplicates
KILL_AT = BATCH + BATCH // 2  # halfway through the second batch
KILL_LAST_AT = READERS - BATCH // 2  # halfway through the last: nothing else is left due
DEFAULT_LEASE = Settings.model_fields["send_lease_seconds"].default
WITHIN = 60.0  # seconds from the restart until every due reader has their digest


@pytest.fixture
def composed(engine: Engine) -> Engine:
    """``READERS`` readers whose send hour just passed, each with an edition to send."""
    now = datetime.now(UTC)
    store_settled_days(engine, now.date() - timedelta(days=4), days=3)
    seed_subscribers(
        engine,
        READERS,
        joined=now - timedelta(days=30),
        send_hour=(now - timedelta(minutes=30)).hour,
    )
    compose_due(engine, now=now, policy=EditionPolicy(), corpus=CorpusCache())
    assert delivery_statuses(engine) == {"pending": READERS}
    return engine


def test_a_worker_killed_mid_send_and_restarted_sends_everyone_within_seconds(
    composed: Engine, database_url: str, tmp_path: Path
) -> None:
    assert DEFAULT_LEASE == 30  # the default, not a lease shortened for the test
    # Killed in the last batch: the restart has nothing else to send, it must see the dead
    # sender's claims on its own.
    elapsed, twice = _kill_and_restart(
        composed, database_url, tmp_path, kill_at=KILL_LAST_AT, lost_elsewhere=False
    )
    print(f"\nrestart to all delivered, same host ({composed.dialect.name}): {elapsed:.1f} s")
    # The dead process's batch was not left to its lease.
    assert elapsed < DEFAULT_LEASE, f"{elapsed:.1f} s: the dead sender's claims were not freed"
    assert 0 < twice <= BATCH


def test_a_sender_lost_on_another_host_lets_go_within_the_default_lease(
    composed: Engine, database_url: str, tmp_path: Path
) -> None:
    elapsed, twice = _kill_and_restart(
        composed, database_url, tmp_path, kill_at=KILL_AT, lost_elsewhere=True
    )
    print(f"\nrestart to all delivered, lost host ({composed.dialect.name}): {elapsed:.1f} s")
    assert elapsed < WITHIN
    assert 0 < twice <= BATCH


def _kill_and_restart(
    engine: Engine, database_url: str, tmp_path: Path, *, kill_at: int, lost_elsewhere: bool
) -> tuple[float, int]:
    """Kill a worker mid-batch, start another at once; returns the seconds from the restart
    until every reader had their digest, and how many mails arrived twice."""
    log = tmp_path / "worker.log"
    with running_sink() as sink:
        env = process_env(
            tmp_path / "var",
            database_url=database_url,
            smtp_url=sink.url,
            send_batch_size=str(BATCH),
        )
        _kill_mid_batch(start(["worker", "--idle", "0.2"], env, log), sink, kill_at)
        marked = kill_at // BATCH * BATCH
        assert delivery_statuses(engine) == +Counter(
            sent=marked, sending=BATCH, pending=READERS - marked - BATCH
        )
        if lost_elsewhere:
            # As if the killed sender had run on another machine: nothing here can tell it
            # is dead, so only its lapsed lease frees its batch.
            with session_scope(engine) as session:
                session.execute(
                    update(Delivery)
                    .where(Delivery.status == DeliveryStatus.SENDING)  # type: ignore[arg-type]
                    .values(claimed_by="elsewhere:4242")
                )
        restarted = time.monotonic()
        second = start(["worker", "--idle", "0.2"], env, log)
        try:
            wait_for(
                lambda: (
                    delivery_statuses(engine) == {"sent": READERS}
                    and len(sink.recipients) == READERS
                ),
                WITHIN,
                "every reader had their digest after the restart",
            )
            elapsed = time.monotonic() - restarted
            second.send_signal(signal.SIGTERM)
            code = second.wait(timeout=30)
        finally:
            if second.poll() is None:
                kill_hard(second)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    assert len(sink.message_ids) == READERS
    return elapsed, sum(n - 1 for n in sink.duplicates().values())


def _kill_mid_batch(
    first: subprocess.Popen[bytes], sink: MessageIdSink, kill_at: int = KILL_AT
) -> None:
    killed = threading.Event()

    def kill(received: int) -> None:
        # Before the sink answers 250: that mail arrived, the sender never heard so.
        if received == kill_at and not killed.is_set():
            first.send_signal(signal.SIGKILL)
            killed.set()

    sink.on_message = kill
    try:
        assert killed.wait(timeout=60), f"the sender never got to mail {kill_at}"
        first.wait(timeout=10)
    finally:
        sink.on_message = None
        if first.poll() is None:
            kill_hard(first)


def test_a_daemon_killed_mid_send_and_restarted_sends_everyone_within_a_minute(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The daemon (``paperfeed run``): its first send pass after the restart, right after its
    first crawl and compose, takes the dead daemon's batch at once (not after the lease and
    the next send interval, a minute later)."""
    now = datetime.now(UTC)
    yesterday = now.date() - timedelta(days=1)
    days = synthetic_days(fixture_items(), start=yesterday, count=1, per_day=15, weekends=True)
    store_settled_days(engine, yesterday - timedelta(days=13), days=13)
    seed_subscribers(
        engine,
        READERS,
        joined=now - timedelta(days=30),
        send_hour=(now - timedelta(minutes=30)).hour,
    )
    log = tmp_path / "daemon.log"
    with FakeHF(days=days) as fake, running_sink() as sink:
        env = process_env(
            tmp_path / "var",
            database_url=database_url,
            hf_base_url=fake.url,
            smtp_url=sink.url,
            send_batch_size=str(BATCH),
            recrawl_days="1",
        )
        daemon = ["run", "--port", str(free_port())]
        # In its last batch: the restart has nothing else to send.
        _kill_mid_batch(start(daemon, env, log), sink, KILL_LAST_AT)
        assert delivery_statuses(engine) == {"sent": READERS - BATCH, "sending": BATCH}
        restarted = time.monotonic()
        second = start(["run", "--port", str(free_port())], env, log)
        try:
            wait_for(
                lambda: (
                    delivery_statuses(engine) == {"sent": READERS}
                    and len(sink.recipients) == READERS
                ),
                WITHIN,
                "every reader had their digest after the restart",
            )
            elapsed = time.monotonic() - restarted
            second.send_signal(signal.SIGTERM)
            code = second.wait(timeout=30)
        finally:
            if second.poll() is None:
                kill_hard(second)
    print(f"\nrestart to all delivered, daemon ({engine.dialect.name}): {elapsed:.1f} s")
    assert code == 0, log.read_text(errors="replace")[-3000:]
    assert len(sink.message_ids) == READERS
    assert 0 < sum(n - 1 for n in sink.duplicates().values()) <= BATCH
