"""Fixtures for the web app: a filled store, a fixed clock, a mail catcher, a TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.store.db import session_scope
from paperfeed.store.subscribers import create_subscriber
from paperfeed.web.app import create_app
from tests.web.web_samples import NOW, Clock, MemoryTransport, app_settings, store_days


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> Settings:
    return app_settings(tmp_path, database_url)


@pytest.fixture
def stored(engine: Engine) -> Engine:
    """The engine, filled with the sample lists."""
    store_days(engine)
    return engine


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def make_client(
    web_settings: Settings, stored: Engine, transport: MemoryTransport, clock: Clock
) -> Iterator[Callable[..., TestClient]]:
    """Build a client for an app over the filled store; settings can be overridden."""
    clients: list[TestClient] = []

    def build(**overrides: object) -> TestClient:
        settings = web_settings.model_copy(update=overrides)
        app: FastAPI = create_app(settings, engine=stored, transport=transport, now=clock)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def feed_token(stored: Engine) -> str:
    """A confirmed reader's feed key, with one composed edition behind their feed."""
    with session_scope(stored) as session:
        subscriber = create_subscriber(
            session,
            email="reader@example.com",
            interests='"speculative decoding"',
            now=NOW - timedelta(days=10),
            confirmed=True,
            send_hour=7,
        )
        token = subscriber.feed_token
    compose_due(stored, now=NOW, policy=EditionPolicy(), corpus=CorpusCache())
    return token
