"""Fixtures for the proof tests: the web app over a migrated store, with a mail catcher.

The proof tests reuse the web and mailer tests' sample modules (fixed papers, a memory
transport, digest builders), imported from their packages rather than copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.web.app import create_app
from tests.web.web_samples import NOW, Clock, MemoryTransport, app_settings


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def make_app(
    tmp_path: Path, database_url: str, engine: Engine, transport: MemoryTransport, clock: Clock
) -> Callable[..., FastAPI]:
    """Build the app over this test's migrated database; settings can be overridden."""

    def build(**overrides: object) -> FastAPI:
        settings = app_settings(tmp_path, database_url, **overrides)
        return create_app(settings, engine=engine, transport=transport, now=clock)

    return build


@pytest.fixture
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client
