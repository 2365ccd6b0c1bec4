"""The web app as a real ``paperfeed serve`` process on a free port, for tests that need one.

Some holes live where the app meets the network: uvicorn's handling of forwarded headers,
its thread pool and the database pool under concurrent clients. Those tests talk HTTP to
this process; its output goes to a file (a full pipe would block it) that a failure shows.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:[0-9]+)")
START_TIMEOUT = 60.0


@contextmanager
def served(folder: Path, settings: Mapping[str, str]) -> Iterator[str]:
    """Run ``paperfeed serve --port 0`` with ``settings`` (PAPERFEED_* values); yield its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(settings)
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "paperfeed", "serve", "--port", "0"],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield wait_until_answering(process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("paperfeed serve ignored SIGTERM:\n" + _tail(log)) from None


def wait_until_answering(process: subprocess.Popen[bytes], log: Path) -> str:
    """The URL ``paperfeed serve`` logged once its /healthz answers 200 (its log fails it)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paperfeed serve exited {process.returncode}:\n{_tail(log)}")
        found = LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            try:
                if httpx.get(found.group(1) + "/healthz", timeout=5).status_code == 200:
                    return found.group(1)
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise AssertionError("paperfeed serve did not answer:\n" + _tail(log))


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:]
