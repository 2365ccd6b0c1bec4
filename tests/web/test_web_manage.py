"""A subscriber's pages: preferences with a preview, one-click unsubscribe, deleting data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, DeliveryStatus, Edition, Subscriber, SubscriberStatus
from paperfeed.store.subscribers import create_subscriber, find_by_token
from tests.web.web_samples import NOW, VISION_PAPER, Clock

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
INTERESTS = '"speculative decoding"\n-vision\n<script>alert(1)</script>'


@pytest.fixture
def token(stored: Engine, clock: Clock) -> str:
    with session_scope(stored) as session:
        subscriber = create_subscriber(
            session,
            email="reader@example.com",
            interests=INTERESTS,
            now=clock() - timedelta(days=10),
            confirmed=True,
            timezone="UTC",
            send_hour=7,
        )
        return subscriber.token


def form_token(client: TestClient, path: str) -> str:
    match = CSRF.search(client.get(path).text)
    assert match
    return match.group(1)


def load(engine: Engine, token: str) -> Subscriber:
    with session_scope(engine) as session:
        subscriber = find_by_token(session, token)
        assert subscriber is not None
        return subscriber


def test_preferences_show_the_interests_as_understood_and_todays_preview(
    client: TestClient, token: str, stored: Engine
) -> None:
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    assert "topic: &#34;speculative decoding&#34;" in page.text
    assert "exclude: vision (drops papers mainly about it)" in page.text
    assert "Speculative Decoding via Optimal Transport" in page.text  # a matched paper
    assert "Speculative Decoding for Vision Transformers" not in page.text  # excluded
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    # The feed URL carries the feed's own read-only key, never the key to this page.
    feed_token = load(stored, token).feed_token
    assert f"http://testserver/feeds/u/{feed_token}.atom" in page.text
    assert f"/feeds/u/{token}" not in page.text


def test_the_live_preview_ranks_typed_interests_and_saves_nothing(
    client: TestClient, token: str, stored: Engine
) -> None:
    fragment = client.get(
        f"/u/{token}/preview",
        params={"fragment": "1", "interests": '"speculative decoding"'},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "Speculative Decoding for Vision Transformers" in fragment.text
    assert load(stored, token).interests == INTERESTS


def test_saving_preferences_changes_them_and_bad_values_change_nothing(
    client: TestClient, token: str, stored: Engine
) -> None:
    csrf = form_token(client, f"/u/{token}")
    fields = {
        "csrf": csrf,
        "interests": "diffusion models",
        "timezone": "Asia/Tokyo",
        "send_hour": "6",
        "frequency": "weekly",
        "paused": "on",
    }
    saved = client.post(f"/u/{token}", data=fields, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith(f"/u/{token}?saved=1")
    row = load(stored, token)
    assert (row.interests, row.timezone, row.send_hour, row.frequency, row.paused) == (
        "diffusion models",
        "Asia/Tokyo",
        6,
        "weekly",
        True,
    )
    bad = client.post(f"/u/{token}", data={**fields, "timezone": "UTC\r\nX: y", "send_hour": "1"})
    assert bad.status_code == 400
    assert "line break" in bad.text
    assert load(stored, token).send_hour == 6


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_is_200_without_redirect_or_cookie_and_idempotent(
    client: TestClient, token: str, stored: Engine, encoding: str
) -> None:
    client.cookies.clear()
    for _ in range(2):
        if encoding == "urlencoded":
            answer = client.post(
                f"/unsubscribe/{token}",
                data={"List-Unsubscribe": "One-Click"},
                follow_redirects=False,
            )
        else:
            answer = client.post(
                f"/unsubscribe/{token}",
                files={"List-Unsubscribe": (None, "One-Click")},
                follow_redirects=False,
            )
        assert answer.status_code == 200
        assert "You are unsubscribed" in answer.text
        assert "location" not in answer.headers
    assert load(stored, token).status == SubscriberStatus.UNSUBSCRIBED


def test_the_unsubscribe_page_shows_a_button_and_its_get_changes_nothing(
    client: TestClient, token: str, stored: Engine
) -> None:
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert load(stored, token).status == SubscriberStatus.ACTIVE
    refused = client.post(f"/unsubscribe/{token}", data={"something": "else"})
    assert refused.status_code == 400
    assert load(stored, token).status == SubscriberStatus.ACTIVE


def test_after_unsubscribing_queued_and_future_digests_are_not_sent(
    client: TestClient, token: str, stored: Engine
) -> None:
    policy = EditionPolicy()
    corpus = CorpusCache()
    first = compose_due(stored, now=NOW, policy=policy, corpus=corpus)
    assert first.deliveries == 1
    client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    with session_scope(stored) as session:
        statuses = session.exec(select(Delivery.status)).all()
    assert statuses == [DeliveryStatus.CANCELLED]
    later = compose_due(stored, now=NOW + timedelta(days=1), policy=policy, corpus=corpus)
    assert later.editions == 0
    with session_scope(stored) as session:
        assert len(session.exec(select(Edition)).all()) == 1


def test_unknown_tokens_get_a_clear_404_everywhere_and_change_nothing(
    client: TestClient, token: str, stored: Engine
) -> None:
    unknown = "A" * 43
    csrf = form_token(client, f"/u/{token}")
    answers = [
        client.get(f"/u/{unknown}"),
        client.get(f"/unsubscribe/{unknown}"),
        client.post(f"/unsubscribe/{unknown}", data={"List-Unsubscribe": "One-Click"}),
        client.post(f"/u/{unknown}", data={"csrf": csrf, "interests": "x", "timezone": "UTC"}),
        client.post(f"/u/{unknown}/delete", data={"csrf": csrf, "sure": "yes"}),
        client.get(f"/e/{unknown}/1"),
        client.get(f"/feeds/u/{unknown}.atom"),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all("<h1>" in a.text for a in answers)
    assert load(stored, token).status == SubscriberStatus.ACTIVE


def test_deleting_my_data_needs_the_box_ticked_then_removes_everything(
    client: TestClient, token: str, stored: Engine
) -> None:
    compose_due(stored, now=NOW, policy=EditionPolicy(), corpus=CorpusCache())
    csrf = form_token(client, f"/u/{token}")
    unsure = client.post(f"/u/{token}/delete", data={"csrf": csrf})
    assert unsure.status_code == 400
    assert load(stored, token).email == "reader@example.com"
    gone = client.post(f"/u/{token}/delete", data={"csrf": csrf, "sure": "yes"})
    assert gone.status_code == 200
    assert "Your data is deleted" in gone.text
    with session_scope(stored) as session:
        assert session.exec(select(Subscriber)).all() == []
        assert session.exec(select(Edition)).all() == []
    assert client.get(f"/u/{token}").status_code == 404


def test_an_edition_opens_in_the_browser_for_its_owner_only(
    client: TestClient, token: str, stored: Engine, clock: Clock
) -> None:
    compose_due(stored, now=NOW, policy=EditionPolicy(), corpus=CorpusCache())
    with session_scope(stored) as session:
        edition = session.exec(select(Edition)).one()
        other = create_subscriber(
            session, email="other@example.com", interests="x", now=clock(), confirmed=True
        )
        other_token = other.token
    page = client.get(f"/e/{token}/{edition.id}")
    assert page.status_code == 200
    assert "Why:" in page.text
    assert "Also trending" in page.text
    assert VISION_PAPER not in page.text
    assert client.get(f"/e/{other_token}/{edition.id}").status_code == 404
