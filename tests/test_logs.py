"""Logging: JSON lines off a terminal (uvicorn's too), console lines on one, exceptions as
text, retries as one line that says what failed."""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import subprocess
import sys

import pytest
import stamina
import structlog

from paperfeed.logs import configure_logging


def test_an_exception_logged_as_json_carries_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    log = structlog.get_logger("paperfeed.test")
    try:
        raise RuntimeError("the crawl job broke")
    except RuntimeError:
        log.exception("job.failed")

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "job.failed"
    assert "RuntimeError: the crawl job broke" in line["exception"]
    assert "Traceback" in line["exception"]


def test_off_a_terminal_stdlib_lines_are_json_records_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8000")

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "Uvicorn running on http://127.0.0.1:8000"
    assert (line["logger"], line["level"]) == ("uvicorn.error", "info")
    assert "timestamp" in line


def test_a_retry_is_one_line_saying_what_failed_not_staminas_internals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    with stamina.set_testing(True, attempts=2):
        for attempt in stamina.retry_context(on=ConnectionError, attempts=2):
            with attempt:
                if attempt.num == 1:
                    raise ConnectionError("relay went away")

    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["event"] for line in lines] == ["retry"]
    assert lines[0]["error"] == "ConnectionError: relay went away"
    assert lines[0]["attempt"] == 2
    assert "callable" not in lines[0]


CONSOLE_CHILD = """
import logging
import structlog
from paperfeed.logs import configure_logging

configure_logging("INFO")  # no json=: the renderer follows whether stderr is a terminal
structlog.get_logger("paperfeed.crawl").info("crawl.done", summary="crawled 1 list")
logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8080")
"""


def test_on_a_terminal_every_line_is_one_readable_console_line() -> None:
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", CONSOLE_CHILD],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=child,
    )
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the terminal closed: the child has exited
            break
        if not chunk:
            break
        output += chunk
    os.close(parent)
    assert process.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode())  # colours off
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert not any(line.lstrip().startswith("{") for line in lines), lines
    crawl, uvicorn = lines
    assert "[info" in crawl
    assert "crawl.done" in crawl
    assert "summary='crawled 1 list'" in crawl
    assert "[info" in uvicorn
    assert "Uvicorn running on http://127.0.0.1:8080" in uvicorn
    assert "uvicorn.error" in uvicorn  # the logger's name, in the same layout as ours
    assert not uvicorn.startswith("INFO uvicorn.error")  # not the old plain formatter
