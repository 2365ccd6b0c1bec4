"""Fixtures for the crawler tests: the real captures, a fake clock, a client, stamina's test mode.

The captures live in the repository's data/hf/, named once in ``tests.support.data_paths``;
every test reaches them through ``hf_fixtures``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import stamina

from paperfeed.config import Settings
from paperfeed.crawler.client import make_client
from paperfeed.crawler.pacing import Pacer
from tests.support.fake_hf import FakeClock
from tests.support.hf_days import FIXTURES_DIR, page_items

HF = "https://huggingface.co"


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries still happen (capped by each policy), but stamina's backoff sleeps are zero."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def hf() -> Iterator[respx.MockRouter]:
    """respx standing in for huggingface.co; unmatched requests fail the test."""
    with respx.mock(base_url=HF, assert_all_called=False) as router:
        yield router


@pytest.fixture
def hf_fixtures() -> Path:
    """data/hf/: the real captures of Hugging Face Daily Papers."""
    path = FIXTURES_DIR.resolve()
    assert (path / "README.md").is_file(), f"fixtures missing at {path}"
    return path


@pytest.fixture
def page_html(hf_fixtures: Path) -> bytes:
    """The real page of 2026-09-28: props with 28 papers and 28 cards."""
    return (hf_fixtures / "papers_2026-09-28.html").read_bytes()


@pytest.fixture
def page_papers(page_html: bytes) -> list[dict[str, Any]]:
    """The 28 items embedded in the real page."""
    return page_items(page_html)


@pytest.fixture
def api_full(hf_fixtures: Path) -> list[dict[str, Any]]:
    """3 untrimmed /api/daily_papers items of 2026-08-03."""
    return json.loads((hf_fixtures / "api_daily_papers_2026-08-03.json").read_text())


@pytest.fixture
def api_trimmed(hf_fixtures: Path) -> list[dict[str, Any]]:
    """14 /api/daily_papers items of 2026-09-29, trimmed by their author (fields missing)."""
    return json.loads((hf_fixtures / "api_daily_papers_2026-09-29_trimmed.json").read_text())


@pytest.fixture
def clock() -> FakeClock:
    """Now is 2026-09-28 12:00 UTC; sleeping only advances this clock."""
    return FakeClock()


@pytest.fixture
def pacer(clock: FakeClock) -> Pacer:
    """The default politeness, on the fake clock."""
    return Pacer(clock=clock)


@pytest.fixture
def hf_settings(tmp_path: Path) -> Settings:
    """Settings aimed at the real Hugging Face URL (respx intercepts it)."""
    return Settings(var_dir=tmp_path / "var", hf_base_url=HF)


@pytest.fixture
def client(hf_settings: Settings) -> Iterator[httpx.Client]:
    """The crawler's client, closed afterwards."""
    with make_client(hf_settings) as client:
        yield client
