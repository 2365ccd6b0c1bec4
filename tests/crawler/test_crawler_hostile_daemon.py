"""Hostile input never stops the service (issue 14, items 1 and 2), as a real ``paperfeed run``:
its first crawl meets the hostile day and the 100,000-deep day among recent days, while
/healthz keeps answering at once; the crawl ends, and SIGTERM still stops the process in 5 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hostile_day import hostile_hf
from tests.support.ports import free_port

PAPERFEED = [sys.executable, "-m", "paperfeed"]
FAR_SCHEDULE = "0 0 1 1 *"  # no scheduled crawl during the test: only the first one
CRAWL_TIMEOUT = 120.0

pytestmark = pytest.mark.slow  # real processes, several seconds each


def _records(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_the_daemon_crawls_hostile_days_stays_responsive_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    today = datetime.now(UTC).date()
    hostile_day, deep_day = today - timedelta(days=2), today - timedelta(days=1)
    port = free_port()
    log = tmp_path / "daemon.log"
    with hostile_hf(hostile_day=hostile_day, deep_day=deep_day) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
        env.update(
            PAPERFEED_VAR_DIR=str(tmp_path / "var"),
            PAPERFEED_HF_BASE_URL=fake.url,
            PAPERFEED_HF_MAX_ATTEMPTS="1",
            PAPERFEED_CRAWL_SCHEDULE=FAR_SCHEDULE,
            PAPERFEED_SECRET_KEY="hostile-daemon-secret-" + "d" * 32,
        )
        subprocess.run([*PAPERFEED, "db", "upgrade"], env=env, check=True, capture_output=True)
        with log.open("wb") as err:
            daemon = subprocess.Popen(
                [*PAPERFEED, "run", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            health_seconds: list[float] = []
            deadline = time.monotonic() + CRAWL_TIMEOUT
            while not any(r.get("event") == "crawl.done" for r in _records(log)):
                assert daemon.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the first crawl never finished"
                started = time.monotonic()
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                except httpx.ConnectError:
                    pass  # not listening yet
                else:
                    assert answer.status_code == 200
                    health_seconds.append(time.monotonic() - started)
                time.sleep(0.2)
            assert any(f"date={hostile_day}" in p for p in fake.paths("/api/daily_papers"))
            signalled = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
            stopped_in = time.monotonic() - signalled
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()

    records = _records(log)
    assert code == 0
    assert stopped_in < 5.0
    assert health_seconds
    assert max(health_seconds) < 2.0, health_seconds
    failed = [r for r in records if r.get("event") == "crawl.day_failed"]
    assert [r["day"] for r in failed] == [str(deep_day)]
    warned = " ".join(r.get("warning", "") for r in records if r.get("event") == "crawl.warning")
    assert f"{hostile_day}: item 1 " in warned
    (done,) = [r for r in records if r.get("event") == "crawl.done"]
    assert ", 1 errors;" in done["summary"]  # the deep day, and nothing else
