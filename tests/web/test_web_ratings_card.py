"""The preferences page's "Your ratings" card: it lists what the reader rated (newest first,
which way, when), undo one and reset all put tomorrow's picks back exactly, its forms need
the page's form token and touch no one else's ratings, and deleting the data deletes them."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Rating, Subscriber
from paperfeed.store.ratings import record
from paperfeed.store.subscribers import create_subscriber
from tests.web.web_samples import NOW, Clock, next_picks

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CARD = re.compile(r'<section class="card" id="ratings".*?</section>', re.S)


def _reader(
    engine: Engine, email: str, interests: str = "language models\nreasoning"
) -> Subscriber:
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session, email=email, interests=interests, now=NOW - timedelta(days=10), confirmed=True
        )
        session.expunge(subscriber)
        return subscriber


def _picks(engine: Engine, reader: int) -> list[str]:
    """The papers the reader's next edition would match, in order (compose's own rule)."""
    return list(next_picks(engine, reader))


def _rate(engine: Engine, reader: int, paper: str, value: int, clock: Clock, days: int) -> None:
    with session_scope(engine) as session:
        record(session, reader, paper, value, now=clock() - timedelta(days=days))


def _ratings(engine: Engine) -> set[tuple[int, str, int]]:
    with session_scope(engine) as session:
        return {(r.subscriber_id, r.paper_id, r.value) for r in session.exec(select(Rating))}


def _card(client: TestClient, token: str) -> tuple[str, str]:
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    card = CARD.search(page.text)
    assert card is not None
    found = CSRF.search(page.text)
    assert found is not None
    return card.group(0), found.group(1)


def test_the_card_lists_ratings_and_undo_and_reset_restore_the_picks(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored, "reader@example.com")
    other = _reader(stored, "other@example.com")
    assert reader.id is not None
    assert other.id is not None
    before = _picks(stored, reader.id)
    assert len(before) >= 4
    card, _ = _card(client, reader.token)
    assert "No ratings yet." in card
    assert "Your interests above still count most" in card

    liked, disliked = before[2], before[0]
    _rate(stored, reader.id, disliked, -1, clock, days=2)
    _rate(stored, reader.id, liked, 1, clock, days=1)
    _rate(stored, other.id, disliked, 1, clock, days=1)
    rated = _picks(stored, reader.id)
    assert rated != before
    assert disliked not in rated
    assert liked not in rated

    card, csrf = _card(client, reader.token)
    # Newest first: the like (a day ago), then the dislike (two days ago), each with a form.
    assert card.index(f"{liked}") < card.index(f"{disliked}")
    assert card.count("<strong>more like this</strong>") == 1
    assert card.count("<strong>less like this</strong>") == 1
    assert (NOW - timedelta(days=1)).strftime("%b %Y") in card
    assert f'action="/u/{reader.token}/ratings/{liked}/undo"' in card
    assert f'action="/u/{reader.token}/ratings/reset"' in card

    # The preview on the page is the next edition with the ratings: the rated papers are gone.
    page = client.get(f"/u/{reader.token}").text
    preview = page[page.index('id="preview"') : page.index('id="past-editions"')]
    shown = re.findall(r"/papers/(\d{4}\.\d{4,5})", preview)
    assert list(dict.fromkeys(shown))[: len(rated)] == rated
    assert disliked not in shown

    # Without the form token nothing changes.
    assert client.post(f"/u/{reader.token}/ratings/{liked}/undo", data={}).status_code == 403
    assert client.post(f"/u/{reader.token}/ratings/reset", data={"csrf": "x"}).status_code == 403
    assert len(_ratings(stored)) == 3

    # Undo the like: only the dislike remains, and the picks are as with it alone.
    undone = client.post(
        f"/u/{reader.token}/ratings/{liked}/undo", data={"csrf": csrf}, follow_redirects=False
    )
    assert undone.status_code == 303
    assert undone.headers["location"].endswith("?ratings=undone#ratings")
    assert _ratings(stored) == {(reader.id, disliked, -1), (other.id, disliked, 1)}
    card, csrf = _card(client, reader.token)
    assert "That rating is forgotten" in client.get(f"/u/{reader.token}?ratings=undone").text
    assert liked not in card
    assert disliked in card
    assert liked in _picks(stored, reader.id)

    # Reset all: exactly the picks from before any rating; the other reader keeps theirs.
    client.post(f"/u/{reader.token}/ratings/reset", data={"csrf": csrf})
    assert _ratings(stored) == {(other.id, disliked, 1)}
    assert _picks(stored, reader.id) == before
    card, _ = _card(client, reader.token)
    assert "No ratings yet." in card


def test_deleting_my_data_deletes_my_ratings(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored, "reader@example.com")
    other = _reader(stored, "other@example.com")
    assert reader.id is not None
    assert other.id is not None
    paper = _picks(stored, reader.id)[0]
    _rate(stored, reader.id, paper, 1, clock, days=1)
    _rate(stored, other.id, paper, -1, clock, days=1)
    _, csrf = _card(client, reader.token)
    gone = client.post(f"/u/{reader.token}/delete", data={"csrf": csrf, "sure": "yes"})
    assert gone.status_code == 200
    assert _ratings(stored) == {(other.id, paper, -1)}
