"""Subscribers: addresses and zones are checked, tokens are unguessable, states move once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from paperfeed.errors import AlreadySubscribed, InputError
from paperfeed.store.db import session_scope
from paperfeed.store.models import SubscriberStatus
from paperfeed.store.subscribers import (
    confirm,
    create_subscriber,
    find_by_token,
    normalise_email,
    unsubscribe,
)

T0 = datetime(2026, 9, 28, 7, 0, tzinfo=UTC)


def test_addresses_are_normalised_so_one_person_is_one_row(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_subscriber(session, email=" Ada@Example.COM ", interests="x", now=T0)
    with session_scope(engine) as session, pytest.raises(AlreadySubscribed):
        create_subscriber(session, email="ada@example.com", interests="y", now=T0)


@pytest.mark.parametrize("bad", ["", "ada", "ada@", "a b@example.com", "x@example.com\r\nBcc: y"])
def test_bad_addresses_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(InputError, match="is not an email address"):
        normalise_email(bad)


def test_a_subscriber_is_pending_until_confirmed_and_confirming_twice_is_harmless(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        s = create_subscriber(
            session,
            email="a@example.com",
            interests="x",
            now=T0,
            timezone="Asia/Tokyo",
            send_hour=8,
        )
        token = s.token
        assert s.status == SubscriberStatus.PENDING
    later = T0 + timedelta(minutes=5)
    with session_scope(engine) as session:
        found = find_by_token(session, token)
        assert found is not None
        confirm(session, found, now=later)
        confirm(session, found, now=later + timedelta(hours=1))
    with session_scope(engine) as session:
        found = find_by_token(session, token)
        assert found is not None
        assert found.status == SubscriberStatus.ACTIVE
        assert found.confirmed_at == later
        unsubscribe(session, found, now=later)
        assert found.status == SubscriberStatus.UNSUBSCRIBED


def test_tokens_are_long_random_and_unknown_ones_find_nobody(engine: Engine) -> None:
    with session_scope(engine) as session:
        a = create_subscriber(session, email="a@example.com", interests="x", now=T0)
        b = create_subscriber(session, email="b@example.com", interests="x", now=T0)
        assert a.token != b.token
        assert len(a.token) >= 43  # 256 bits in URL-safe base64
        assert find_by_token(session, a.token[:-1]) is None
        assert find_by_token(session, "") is None
        assert find_by_token(session, "x" * 10_000) is None


def test_an_unknown_time_zone_is_refused(engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(InputError, match="IANA time zone"):
        create_subscriber(
            session, email="a@example.com", interests="x", now=T0, timezone="Mars/Olympus"
        )
