"""Logging: a failed job's exception reaches the JSON log as text, not ``exc_info: true``."""

from __future__ import annotations

import json

import pytest
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
