"""A team digest's edition pages link no preferences page (it answers 403 for teams).

A team's edition link is in every post to its channel; ``/u/{token}`` and its forms refuse
teams (web/manage.py), so its edition page and past editions must not offer "Change what
you get" or "Back to your preferences": only the past editions, which do open. A person's
pages keep both links.
"""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Edition, EditionPaper, Paper
from paperfeed.store.subscribers import create_subscriber
from paperfeed.store.teams import create_team
from tests.web.web_samples import NOW

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general"
HREF = re.compile(r'href="([^"]*)"')


def with_edition(engine: Engine, *, team: bool) -> tuple[str, int]:
    """A team (or a person) with one edition of three papers: its token and edition id."""
    with session_scope(engine) as session:
        if team:
            subscriber, _ = create_team(session, name="lab", url=SLACK, interests="x y", now=NOW)
        else:
            subscriber = create_subscriber(
                session, email="ann@example.org", interests="x y", now=NOW, confirmed=True
            )
        edition = Edition(
            subscriber_id=subscriber.id or 0, local_date=date(2026, 9, 24), created_at=NOW
        )
        session.add(edition)
        session.flush()
        for rank, paper in enumerate(session.exec(select(Paper).limit(3)).all()):
            session.add(
                EditionPaper(edition_id=edition.id or 0, paper_id=paper.arxiv_id, rank=rank)
            )
        return subscriber.token, edition.id or 0


def links(html: str) -> set[str]:
    return {href.removeprefix("http://testserver") for href in HREF.findall(html)}


def test_a_teams_edition_pages_link_no_preferences_page(client: TestClient, stored: Engine) -> None:
    token, edition_id = with_edition(stored, team=True)
    assert client.get(f"/u/{token}").status_code == 403  # what the links would have opened
    edition = client.get(f"/e/{token}/{edition_id}")
    assert edition.status_code == 200
    assert f"/u/{token}" not in links(edition.text)
    assert "Change what you get" not in edition.text
    # Its past editions still open, and link every edition but no preferences page.
    assert f"/u/{token}/editions" in links(edition.text)
    editions = client.get(f"/u/{token}/editions")
    assert editions.status_code == 200
    assert f"/u/{token}" not in links(editions.text)
    assert "Back to your preferences" not in editions.text
    assert f"/e/{token}/{edition_id}" in links(editions.text)
    for page in (edition, editions):
        for href in links(page.text):
            if href.startswith("/") and not href.startswith("/static/"):
                assert client.get(href).status_code == 200, href


def test_a_persons_edition_pages_keep_their_preferences_links(
    client: TestClient, stored: Engine
) -> None:
    token, edition_id = with_edition(stored, team=False)
    edition = client.get(f"/e/{token}/{edition_id}")
    assert {f"/u/{token}", f"/u/{token}/editions"} <= links(edition.text)
    assert edition.text.count("Change what you get") == 2  # at the top and the bottom
    editions = client.get(f"/u/{token}/editions")
    assert f"/u/{token}" in links(editions.text)
    assert "Back to your preferences" in editions.text
