"""Migration 0004: every stored subscriber gets its own feed token (issue 14, item 5).

Run on SQLite and PostgreSQL: subscribers written under 0003 (no feed token column) come
out of the upgrade each with a different unguessable token, distinct from their account
token, and the schema can go back down and up again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from paperfeed.store import migrate
from paperfeed.store.db import make_engine

SUBSCRIBERS = 2_500  # more than one fill batch


def test_upgrading_gives_each_stored_subscriber_its_own_feed_token(
    unmigrated_database_url: str,
) -> None:
    engine = make_engine(unmigrated_database_url)
    migrate.upgrade(engine, "0003")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        {"email": f"r{i}@example.com", "token": f"account-token-{i:05d}", "now": now}
        for i in range(SUBSCRIBERS)
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subscriber (email, status, interests, timezone, send_hour, "
                "frequency, max_papers, paused, token, created_at, updated_at) VALUES "
                "(:email, 'active', 'llm', 'UTC', 7, 'daily', 10, false, :token, :now, :now)"
            ),
            rows,
        )

    migrate.upgrade(engine)

    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token, feed_token FROM subscriber")).all()
    feed_tokens = [feed for _, feed in stored]
    assert len(stored) == SUBSCRIBERS
    assert all(feed is not None and len(feed) == 43 for feed in feed_tokens)
    assert len(set(feed_tokens)) == SUBSCRIBERS
    assert not {account for account, _ in stored} & set(feed_tokens)
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("subscriber")}
    assert indexes["ix_subscriber_feed_token"]["unique"]
    with engine.begin() as connection, pytest.raises(IntegrityError):
        connection.execute(text(f"UPDATE subscriber SET feed_token = '{feed_tokens[0]}'"))

    migrate.downgrade(engine, "0003")
    assert "feed_token" not in {c["name"] for c in inspect(engine).get_columns("subscriber")}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
