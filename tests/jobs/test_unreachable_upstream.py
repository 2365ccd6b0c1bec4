"""Hugging Face unreachable: one crawl run ends after its first list with one error line, the
failure is stored, /healthz says degraded (still 200) until a crawl works again, /metrics
carries the last successful crawl, and the daemon's retry waits grow to 30 minutes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import stamina
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.crawler.client import make_client
from paperfeed.crawler.pacing import Pacer
from paperfeed.jobs.crawl import CrawlSummary, crawl_days
from paperfeed.logs import configure_logging
from paperfeed.scheduler import CrawlRetry
from paperfeed.store.db import session_scope
from paperfeed.store.models import CrawlRun
from paperfeed.web.app import create_app
from tests.support.fake_hf import FakeClock, FakeHF
from tests.support.hf_days import FIXTURES_DIR

DAYS = [date(2026, 9, 25), date(2026, 9, 28), date(2026, 9, 29)]
NOW = datetime(2026, 9, 29, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


def _refusing_url() -> str:
    """A URL on a port nothing listens on: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _crawl(engine: Engine, base_url: str, tmp_path: Path) -> CrawlSummary:
    settings = Settings(var_dir=tmp_path / "var", hf_base_url=base_url)
    with make_client(settings, timeout=2) as client:
        return crawl_days(
            engine,
            client,
            DAYS,
            settle_hours=6,
            trending=True,
            pacer=Pacer(clock=FakeClock(start=NOW)),
        )


def _health(engine: Engine, tmp_path: Path) -> tuple[dict[str, object], str]:
    settings = Settings(var_dir=tmp_path / "var", database_url=str(engine.url), secret_key="s" * 40)
    with TestClient(create_app(settings, engine=engine)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200  # degraded, not down: the web app is fine
        return health.json(), client.get("/metrics").text


def test_an_unreachable_host_ends_the_run_with_one_error_line_and_degrades_health(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json=True)
    capsys.readouterr()

    summary = _crawl(engine, _refusing_url(), tmp_path)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines if line["level"] == "error"] == ["crawl.unreachable"]
    retries = [line for line in lines if line["event"] == "crawl.retry"]
    assert len(retries) == 2  # the first source's own tries (3 in test mode), nothing more
    assert {line["day"] for line in retries} == {"2026-09-25"}
    assert all("/api/daily_papers?date=2026-09-25" in line["url"] for line in retries)
    assert summary.failed
    assert summary.days == 1
    with session_scope(engine) as session:
        runs = session.exec(select(CrawlRun)).all()
    assert [(r.listing_date, r.status) for r in runs] == [(DAYS[0], "error")]
    assert runs[0].error is not None
    assert "cannot reach 127.0.0.1:" in runs[0].error

    health, metrics = _health(engine, tmp_path)
    assert health["status"] == "degraded"
    assert health["crawl"] == "failing"
    assert "check the network or PAPERFEED_HF_BASE_URL" in str(health["last_crawl_error"])
    assert health["last_successful_crawl_at"] is None
    assert "paperfeed_last_successful_crawl_timestamp_seconds" not in metrics


def test_a_crawl_that_works_again_heals_health(engine: Engine, tmp_path: Path) -> None:
    _crawl(engine, _refusing_url(), tmp_path)
    with FakeHF.from_fixtures(FIXTURES_DIR) as fake:
        summary = _crawl(engine, fake.url, tmp_path)
    assert not summary.failed

    health, metrics = _health(engine, tmp_path)
    assert health["status"] == "ok"
    assert health["last_crawl_error"] is None
    assert health["last_successful_crawl_at"] is not None
    gauge = next(
        line
        for line in metrics.splitlines()
        if line.startswith("paperfeed_last_successful_crawl_timestamp_seconds ")
    )
    succeeded = datetime.fromisoformat(str(health["last_successful_crawl_at"]))
    assert float(gauge.split()[1]) == pytest.approx(succeeded.timestamp())


def test_a_failed_crawl_is_retried_sooner_than_any_schedule_doubling_to_30_minutes() -> None:
    retry = CrawlRetry(first=timedelta(minutes=1))
    waits = [retry.after(failed=True) for _ in range(7)]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 30, 30)]
    assert retry.after(failed=False) is None
    assert retry.after(failed=True) == timedelta(minutes=1)  # a success starts over


def test_the_refusing_url_really_refuses() -> None:
    """Guard for the tests above: nothing listens there."""
    with pytest.raises(httpx.ConnectError):
        httpx.get(_refusing_url(), timeout=2)
