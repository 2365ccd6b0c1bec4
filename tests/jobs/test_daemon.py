"""`paperfeed run` as a real process: web and scheduler, a crawl on start, exit 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import select

from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import CrawlRun
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import FIXTURES_DIR
from tests.support.ports import free_port

PAPERFEED = [sys.executable, "-m", "paperfeed"]


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_run_crawls_at_start_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_RECRAWL_DAYS": "1",
    }
    with FakeHF.from_fixtures(FIXTURES_DIR) as fake:
        env["PAPERFEED_HF_BASE_URL"] = fake.url
        subprocess.run([*PAPERFEED, "db", "upgrade"], env=env, check=True, capture_output=True)
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}")

        def crawled() -> bool:
            with session_scope(engine) as session:
                return session.exec(select(func.count()).select_from(CrawlRun)).one() > 0

        port = free_port()

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        daemon = subprocess.Popen(
            [*PAPERFEED, "run", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert _wait_for(crawled, timeout=60), "the daemon never crawled"
            assert _wait_for(healthy, timeout=30), "the web app never answered /healthz"
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
        engine.dispose()
    assert daemon.returncode == 0, err.decode()
    assert b"paperfeed stopped" in out
    assert b"daemon.stopping" in err
