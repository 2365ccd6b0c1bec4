"""Ratings as data (SQLite and PostgreSQL): the latest click wins, undo, reset, the learned
profile read back for compose, and deleting the subscriber deletes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.errors import InputError
from paperfeed.learned_profiles import feedback_of
from paperfeed.store.db import session_scope
from paperfeed.store.models import Paper, Rating, Subscriber
from paperfeed.store.ratings import LESS, MORE, list_ratings, rating_of, record, reset, undo
from paperfeed.store.subscribers import create_subscriber, remove_subscriber

NOW = datetime(2026, 9, 25, 9, tzinfo=UTC)


def _setup(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        for i in range(3):
            session.add(
                Paper(
                    arxiv_id=f"2609.0000{i}",
                    title=f"Paper {i}",
                    abstract=f"Abstract {i}",
                    first_seen_at=NOW,
                    updated_at=NOW,
                )
            )
        ids = []
        for email in ("a@example.com", "b@example.com"):
            subscriber = create_subscriber(
                session, email=email, interests="graphs", now=NOW, confirmed=True
            )
            assert subscriber.id is not None
            ids.append(subscriber.id)
    return ids[0], ids[1]


def test_the_latest_click_wins_and_undo_and_reset_forget(engine: Engine) -> None:
    a, b = _setup(engine)
    with session_scope(engine) as session:
        record(session, a, "2609.00000", MORE, now=NOW)
        record(session, a, "2609.00001", LESS, now=NOW + timedelta(seconds=1))
        record(session, a, "2609.00000", LESS, now=NOW + timedelta(seconds=2))  # changed mind
        record(session, b, "2609.00000", MORE, now=NOW)
    with session_scope(engine) as session:
        assert rating_of(session, a, "2609.00000") == LESS
        listed = list_ratings(session, a)
        # One row per paper, most recent first, with the paper.
        assert [(r.paper.arxiv_id, r.value) for r in listed] == [
            ("2609.00000", LESS),
            ("2609.00001", LESS),
        ]
        assert listed[0].created_at == NOW + timedelta(seconds=2)
        learned = feedback_of(session, [a, b])
        assert [d.paper_id for d in learned[a].disliked] == ["2609.00000", "2609.00001"]
        assert learned[a].liked == ()
        assert [d.title for d in learned[b].liked] == ["Paper 0"]
    with session_scope(engine) as session:
        assert undo(session, a, "2609.00001") is True
        assert undo(session, a, "2609.00001") is False
        assert rating_of(session, a, "2609.00001") is None
        assert reset(session, a) == 1
        assert list_ratings(session, a) == []
        assert feedback_of(session, [a]) == {}
        assert rating_of(session, b, "2609.00000") == MORE  # someone else's untouched


def test_a_rating_is_plus_or_minus_one(engine: Engine) -> None:
    a, _ = _setup(engine)
    with session_scope(engine) as session, pytest.raises(InputError):
        record(session, a, "2609.00000", 5, now=NOW)


def test_deleting_the_subscriber_deletes_their_ratings(engine: Engine) -> None:
    a, b = _setup(engine)
    with session_scope(engine) as session:
        record(session, a, "2609.00000", MORE, now=NOW)
        record(session, a, "2609.00002", LESS, now=NOW)
        record(session, b, "2609.00001", MORE, now=NOW)
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, a)
        assert subscriber is not None
        remove_subscriber(session, subscriber)  # what deleting one's data does
    with session_scope(engine) as session:
        left = session.exec(select(Rating)).all()
        assert [(r.subscriber_id, r.paper_id) for r in left] == [(b, "2609.00001")]
