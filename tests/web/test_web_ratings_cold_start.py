"""Cold start: right after confirming, the page offers a few recent papers to rate, one per
interest topic and a borderline one, each with more/less buttons (POST, form token), and a
Skip link; a rating is recorded for that reader and the paper leaves the list."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Rating
from paperfeed.store.subscribers import create_subscriber
from tests.web.web_samples import NOW, SQLITE_ONLY

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CARD = re.compile(r'<section class="card" id="cold-start".*?</section>', re.S)
OFFERED = re.compile(r'name="paper" value="([^"]+)"')


def _reader(engine: Engine, interests: str) -> str:
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email="new@example.com",
            interests=interests,
            now=NOW - timedelta(days=10),
            confirmed=True,
        )
        return subscriber.token


def _ratings(engine: Engine) -> set[tuple[str, int]]:
    with session_scope(engine) as session:
        return {(r.paper_id, r.value) for r in session.exec(select(Rating))}


@SQLITE_ONLY
def test_after_confirming_a_few_papers_to_rate_and_skip(client: TestClient, stored: Engine) -> None:
    token = _reader(stored, "language models\nreasoning\nspeculative decoding")
    plain = client.get(f"/u/{token}")
    assert 'id="cold-start"' not in plain.text  # only right after confirming

    page = client.get(f"/u/{token}?welcome=1")
    card = CARD.search(page.text)
    assert card is not None
    offered = OFFERED.findall(card.group(0))
    assert 2 <= len(offered) <= 6
    assert len(set(offered)) == len(offered)
    assert f'<a href="/u/{token}">Skip</a>' in card.group(0)
    assert card.group(0).count('value="more"') == len(offered)
    assert card.group(0).count('value="less"') == len(offered)
    # A GET records nothing; a POST without the form token neither.
    assert _ratings(stored) == set()
    path = f"/u/{token}/ratings/rate"
    assert client.post(path, data={"paper": offered[0], "value": "more"}).status_code == 403
    assert _ratings(stored) == set()

    csrf = CSRF.search(page.text)
    assert csrf is not None
    done = client.post(
        path,
        data={"csrf": csrf.group(1), "paper": offered[0], "value": "more"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/u/{token}?start=1#cold-start")
    client.post(path, data={"csrf": csrf.group(1), "paper": offered[1], "value": "less"})
    assert _ratings(stored) == {(offered[0], 1), (offered[1], -1)}

    after = CARD.search(client.get(f"/u/{token}?start=1").text)
    assert after is not None
    left = OFFERED.findall(after.group(0))
    assert offered[0] not in left
    assert offered[1] not in left
    # Nonsense is refused and records nothing.
    bad = {"csrf": csrf.group(1), "paper": offered[2], "value": "sideways"}
    assert client.post(path, data=bad).status_code == 400
    unknown = {"csrf": csrf.group(1), "paper": "2609.99999", "value": "more"}
    assert client.post(path, data=unknown).status_code == 404
    assert len(_ratings(stored)) == 2


@SQLITE_ONLY
def test_each_topic_gets_its_best_match(client: TestClient, stored: Engine) -> None:
    token = _reader(stored, "speculative decoding\nlanguage models")
    card = CARD.search(client.get(f"/u/{token}?welcome=1").text)
    assert card is not None
    offered = OFFERED.findall(card.group(0))
    hints = re.findall(r'<span class="hint">([^<]*)</span>', card.group(0))
    # The first two are each topic's own best match, with that topic's reason.
    assert "speculative decoding" in hints[0]
    assert "language models" in hints[1]
    assert len(offered) >= 2
