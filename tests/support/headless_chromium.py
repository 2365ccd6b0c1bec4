"""Headless Debian chromium for the browser tests, driven by Playwright (never its own browser).

The flags keep Chromium off the network it cannot reach here; on CI a missing browser fails
the run instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # tests/artifacts/, gitignored
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests: {what}")
    pytest.skip(what)


def launch_chromium() -> Iterator[Any]:
    """Yield a launched Playwright browser (use as the body of a fixture)."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        _missing("Debian's chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@contextlib.contextmanager
def serving_in_thread(app: Any, port: int) -> Iterator[None]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in a thread while the block runs.

    uvicorn is told to leave logging alone (no dictConfig, no levels): its own config would
    silence the ``uvicorn.*`` loggers for every later test in this process."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_config=None,
        log_level=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
