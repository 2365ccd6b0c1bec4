"""`paperfeed run` killed with SIGKILL in the middle of a 2,000-mail send, then started again.

A real process against the fake Hugging Face server and an SMTP sink in this process that
counts Message-IDs: after the restart every subscriber has exactly one edition, every
delivery is sent, and what the sink received twice is at most the batch that was in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cycle_samples import (
    MessageIdSink,
    delivery_statuses,
    editions,
    free_port,
    running_sink,
    seed_subscribers,
)
from fakehf import FakeHF
from fakehf_days import fixture_items, synthetic_days
from sqlalchemy import Engine

from paperfeed.store.db import make_engine

PAPERFEED = [sys.executable, "-m", "paperfeed"]
SUBSCRIBERS = 2000
BATCH = 100
KILL_AT = 3 * BATCH + BATCH // 2
LEASE_SECONDS = 2


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Files, not pipes: 2,000 "caught up" log lines would fill a pipe and block the daemon.
    with log.open("ab") as out:
        return subprocess.Popen(
            [*PAPERFEED, "run", "--port", str(free_port())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_a_daemon_killed_mid_send_restarts_and_sends_everyone_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # Listing days that ended long ago, so the daemon's first crawl settles them.
    days = synthetic_days(
        fixture_items(), start=now.date() - timedelta(days=9), count=8, per_day=15
    )
    log = tmp_path / "daemon.log"
    with FakeHF(days=days) as fake, running_sink() as sink:
        env = {
            **os.environ,
            "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
            "PAPERFEED_HF_BASE_URL": fake.url,
            "PAPERFEED_SMTP_URL": sink.url,
            "PAPERFEED_SEND_BATCH_SIZE": str(BATCH),
            "PAPERFEED_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
            "PAPERFEED_RECRAWL_DAYS": "1",
        }
        subprocess.run([*PAPERFEED, "db", "upgrade"], env=env, check=True, capture_output=True)
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}")
        # Everyone's send hour passed within the hour: all 2,000 are due at the first compose.
        seed_subscribers(
            engine,
            SUBSCRIBERS,
            joined=now - timedelta(days=30),
            send_hour=(now - timedelta(minutes=30)).hour,
        )
        try:
            _crash_and_restart(engine, env, log, sink)
        finally:
            engine.dispose()


def _crash_and_restart(engine: Engine, env: dict[str, str], log: Path, sink: MessageIdSink) -> None:
    first = _start(env, log)
    killed = threading.Event()

    def kill_mid_batch(received: int) -> None:
        # Halfway through the fourth batch, with its first half received but not yet marked.
        if received == KILL_AT and not killed.is_set():
            first.send_signal(signal.SIGKILL)
            killed.set()

    sink.on_message = kill_mid_batch
    try:
        assert killed.wait(timeout=120), "the daemon never got to the fourth batch"
        first.wait(timeout=10)
    finally:
        sink.on_message = None
        if first.poll() is None:
            first.kill()
    statuses = delivery_statuses(engine)
    assert statuses == {"sent": 3 * BATCH, "sending": BATCH, "pending": SUBSCRIBERS - 4 * BATCH}
    received_before_restart = sink.received
    # The killed sender's claim must lapse first, or the restart's first pass skips its batch.
    time.sleep(LEASE_SECONDS)

    second = _start(env, log)
    try:
        _wait_for(
            lambda: delivery_statuses(engine) == {"sent": SUBSCRIBERS},
            120,
            "every delivery was sent after the restart",
        )
        second.send_signal(signal.SIGTERM)
        code = second.wait(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output[-3000:]

    made = editions(engine)
    assert len(made) == SUBSCRIBERS
    assert len({email for email, _ in made}) == SUBSCRIBERS
    assert len(sink.message_ids) == SUBSCRIBERS
    assert len(sink.recipients) == SUBSCRIBERS
    twice = sum(n - 1 for n in sink.duplicates().values())
    # The half batch received before the kill arrives again, nothing else does.
    assert 0 < twice <= BATCH, f"{twice} mails sent twice; at most the in-flight batch may be"
    assert sink.received > received_before_restart
