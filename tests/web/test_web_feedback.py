"""The "more like this" / "less like this" links: scanners record nothing, forms record, undo,
links cannot be forged, and they outlive a token rotation but not the subscriber."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.rating_links import RATING_LINK_DAYS, RatingSigner, rating_url
from paperfeed.store.db import session_scope
from paperfeed.store.models import Paper, Rating, Subscriber
from paperfeed.store.preferences import rotate_feed_token
from paperfeed.store.ratings import list_ratings, reset
from paperfeed.store.subscribers import (
    create_subscriber,
    remove_subscriber,
    rotate_token,
)
from tests.web.web_samples import (
    NOW,
    SECRET,
    SQLITE_ONLY,
    Clock,
    next_picks,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAPER = "2609.00001"
OTHER_PAPER = "2609.00002"


def _reader(engine: Engine, email: str = "reader@example.com") -> int:
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email=email,
            interests="speculative decoding",
            now=NOW - timedelta(days=10),
            confirmed=True,
        )
        assert subscriber.id is not None
        return subscriber.id


def _path(subscriber_id: int, paper_id: str, *, more: bool, clock: Clock) -> str:
    url = rating_url(
        "http://testserver", RatingSigner(SECRET, clock=clock), subscriber_id, paper_id, more=more
    )
    return url.removeprefix("http://testserver")


def _ratings(engine: Engine) -> list[tuple[int, str, int]]:
    with session_scope(engine) as session:
        rows = session.exec(select(Rating)).all()
        return [(r.subscriber_id, r.paper_id, r.value) for r in rows]


def _click(client: TestClient, path: str) -> tuple[int, str]:
    """What a person does: open the link, press the button."""
    page = client.get(path)
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found is not None
    done = client.post(path, data={"csrf": found.group(1)})
    return done.status_code, done.text


def test_a_scanner_fetching_the_link_records_nothing(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    path = _path(reader, PAPER, more=True, clock=clock)
    for _ in range(3):  # gateways fetch, sometimes more than once, and follow HEAD too
        page = client.get(path)
        assert page.status_code == 200
        assert "More papers like this one?" in page.text
        assert '<form method="post"' in page.text
    assert client.head(path).status_code in (200, 405)
    assert _ratings(stored) == []


def test_the_button_records_the_latest_click_wins_and_undo_forgets(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    more = _path(reader, PAPER, more=True, clock=clock)
    less = _path(reader, PAPER, more=False, clock=clock)

    status, text = _click(client, more)
    assert status == 200
    assert "Noted: more like this" in text
    assert "Undo" in text
    assert _ratings(stored) == [(reader, PAPER, 1)]

    status, text = _click(client, less)  # changed their mind: one row, the latest value
    assert status == 200
    assert "Noted: less like this" in text
    assert _ratings(stored) == [(reader, PAPER, -1)]

    found = CSRF.search(text)
    assert found is not None
    undone = client.post(f"{less}/undo", data={"csrf": found.group(1)})
    assert undone.status_code == 200
    assert "Undone" in undone.text
    assert _ratings(stored) == []


def test_a_post_without_the_form_token_records_nothing(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    path = _path(reader, PAPER, more=True, clock=clock)
    assert client.post(path, data={}).status_code == 403
    assert client.post(path, data={"csrf": "forged"}).status_code == 403
    assert _ratings(stored) == []


@SQLITE_ONLY
def test_links_cannot_be_forged_for_another_subscriber_or_paper(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    victim = _reader(stored, "victim@example.com")
    path = _path(reader, PAPER, more=True, clock=clock)
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found is not None
    token = found.group(1)
    signed = path.removeprefix("/r/")
    payload, _, signature = signed.partition(".")
    other = _path(victim, OTHER_PAPER, more=True, clock=clock).removeprefix("/r/")
    tampered = [
        # Another subscriber's and paper's payload with this link's signature.
        other.partition(".")[0] + "." + signed.partition(".")[2],
        signed[:-3] + ("AAA" if not signed.endswith("AAA") else "BBB"),  # signature altered
        payload + "." + signature[:10],  # cut short
        # Signed by someone without this site's key.
        RatingSigner("another-key-" + "x" * 32, clock=clock).sign(victim, PAPER, more=True),
    ]
    for bad in tampered:
        assert client.get(f"/r/{bad}").status_code == 400
        assert client.post(f"/r/{bad}", data={"csrf": token}).status_code == 400
        assert client.post(f"/r/{bad}/undo", data={"csrf": token}).status_code == 400
    assert _ratings(stored) == []
    # The genuine link still works, for its own subscriber and paper only.
    assert _click(client, path)[0] == 200
    assert _ratings(stored) == [(reader, PAPER, 1)]


@SQLITE_ONLY
def test_links_work_for_months_survive_a_token_rotation_and_reveal_no_token(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    path = _path(reader, PAPER, more=False, clock=clock)
    with session_scope(stored) as session:
        subscriber = session.get(Subscriber, reader)
        assert subscriber is not None
        old_token, old_feed = subscriber.token, subscriber.feed_token
        rotate_token(session, subscriber, now=NOW)  # the account key rotated
        rotate_feed_token(session, subscriber, now=NOW)  # and the feed key
    assert old_token not in path
    assert old_feed not in path
    clock.now += timedelta(days=RATING_LINK_DAYS - 1)
    status, text = _click(client, path)
    assert status == 200
    assert old_token not in text
    assert _ratings(stored) == [(reader, PAPER, -1)]
    clock.now += timedelta(days=2)  # past its lifetime
    assert client.get(path).status_code == 400


@SQLITE_ONLY
def test_a_deleted_subscriber_takes_their_ratings_and_their_links_with_them(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    path = _path(reader, PAPER, more=True, clock=clock)
    _click(client, path)
    with session_scope(stored) as session:
        assert len(list_ratings(session, reader)) == 1
        subscriber = session.get(Subscriber, reader)
        assert subscriber is not None
        remove_subscriber(session, subscriber)
    assert _ratings(stored) == []
    assert client.get(path).status_code == 410


@pytest.mark.parametrize("more", [True, False])
def test_an_unknown_paper_is_a_404_and_records_nothing(
    client: TestClient, stored: Engine, clock: Clock, more: bool
) -> None:
    reader = _reader(stored)
    assert client.get(_path(reader, "2609.99999", more=more, clock=clock)).status_code == 404
    assert _ratings(stored) == []


def _follow_up(engine: Engine, paper_id: str) -> str:
    """A stored paper (sent earlier, not in the window) that follows up on ``paper_id``:
    the same study told again, as a reader rates what an older digest sent them."""
    with session_scope(engine) as session:
        paper = session.get(Paper, paper_id)
        assert paper is not None
        session.add(
            Paper(
                arxiv_id="2609.88888",
                title=f"{paper.title}, revisited",
                abstract=f"We revisit this study. {paper.abstract}",
                first_seen_at=NOW - timedelta(days=30),
                updated_at=NOW - timedelta(days=30),
            )
        )
    return "2609.88888"


@SQLITE_ONLY
def test_a_rating_moves_the_next_digest_its_way_and_undo_and_reset_restore_it(
    client: TestClient, stored: Engine, clock: Clock
) -> None:
    reader = _reader(stored)
    with session_scope(stored) as session:
        subscriber = session.get(Subscriber, reader)
        assert subscriber is not None
        subscriber.interests = "language models\nreasoning"
        session.add(subscriber)
    first = next_picks(stored, reader)
    assert len(first) >= 3
    target = list(first)[1]
    rated = _follow_up(stored, target)
    # Every stored paper counts in the term statistics: the baseline includes the new one.
    before = next_picks(stored, reader)
    assert list(before) == list(first)

    # "Less like this" on a paper very like one of the picks: that pick sinks (in score,
    # or out of the digest), and the rated paper itself is never picked.
    _click(client, _path(reader, rated, more=False, clock=clock))
    less = next_picks(stored, reader)
    assert rated not in less
    assert less.get(target, 0.0) < before[target]

    # "More like this" on it (the latest click wins): the pick rises, with the reason.
    more_path = _path(reader, rated, more=True, clock=clock)
    status, text = _click(client, more_path)
    assert status == 200
    more = next_picks(stored, reader)
    assert more[target] > before[target]
    assert next(iter(more)) == target

    # Undo: the digest is chosen exactly as before any click.
    found = CSRF.search(text)
    assert found is not None
    client.post(f"{more_path}/undo", data={"csrf": found.group(1)})
    assert next_picks(stored, reader) == before

    # Several ratings, then reset: exactly as before again.
    others = [p for p in before if p != target]
    for paper, up in ((rated, False), (others[0], True), (others[-1], False)):
        _click(client, _path(reader, paper, more=up, clock=clock))
    assert next_picks(stored, reader) != before
    with session_scope(stored) as session:
        assert reset(session, reader) == 3
    assert next_picks(stored, reader) == before
