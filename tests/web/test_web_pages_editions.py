"""Past editions (issue 18): the digest links to its page, the preferences page lists them.

Each stored edition's mail says "View in your browser" (HTML and text) with the edition's
page, which opens; the preferences page lists the newest editions, dated and linked, with a
link to all of them; ``/u/{token}/editions`` pages through every one, newest first, and
shows nobody else's.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.mailer.preview import preview_digest
from paperfeed.store.db import session_scope
from paperfeed.store.models import Edition, EditionPaper, Paper
from paperfeed.store.subscribers import create_subscriber, find_by_email
from paperfeed.web import past_editions
from tests.web.web_samples import NOW, SQLITE_ONLY

EDITION_LINK = re.compile(r'<a href="http://testserver/e/([^/"]+)/(\d+)"><time datetime="([^"]+)">')


def reader_with_editions(engine: Engine, email: str, count: int) -> tuple[str, list[int]]:
    """A confirmed reader with ``count`` editions on consecutive days ending 2026-09-24,
    each holding i+1 papers (created out of date order, as catch-up compose may)."""
    with session_scope(engine) as session:
        reader = create_subscriber(
            session, email=email, interests="x", now=NOW - timedelta(days=40), confirmed=True
        )
        papers = [p.arxiv_id for p in session.exec(select(Paper).limit(count)).all()]
        ids: list[int] = []
        for i in sorted(range(count), key=lambda i: (i * 7) % count):
            edition = Edition(
                subscriber_id=reader.id or 0,
                local_date=date(2026, 9, 24) - timedelta(days=count - 1 - i),
                created_at=NOW,
            )
            session.add(edition)
            session.flush()
            for rank, paper in enumerate(papers[: i + 1]):
                session.add(EditionPaper(edition_id=edition.id or 0, paper_id=paper, rank=rank))
            ids.append(edition.id or 0)
        return reader.token, ids


def listed(html: str) -> list[tuple[str, str]]:
    """(date, edition id) of each listed edition, in page order."""
    return [(m.group(3), m.group(2)) for m in EDITION_LINK.finditer(html)]


def test_preferences_list_the_newest_editions_dated_and_linked_with_a_link_to_all(
    client: TestClient, stored: Engine
) -> None:
    token, _ = reader_with_editions(stored, "many@example.com", 8)
    other, _ = reader_with_editions(stored, "other@example.com", 2)
    page = client.get(f"/u/{token}").text
    shown = listed(page)
    assert [d for d, _ in shown] == [
        "2026-09-24",
        "2026-09-23",
        "2026-09-22",
        "2026-09-21",
        "2026-09-20",
    ]
    assert all(m.group(1) == token for m in EDITION_LINK.finditer(page))
    assert "Thu, 24 Sep 2026" in page
    assert "8 papers" in page
    assert "4 papers" in page
    assert f'<a href="/u/{token}/editions">All 8 past editions</a>' in page
    # The listed edition opens, and only for its owner.
    first = shown[0][1]
    assert client.get(f"/e/{token}/{first}").status_code == 200
    assert client.get(f"/e/{other}/{first}").status_code == 404
    # Two editions: both listed, no "all" link.
    few = client.get(f"/u/{other}").text
    assert len(listed(few)) == 2
    assert "past editions</a>" not in few


@SQLITE_ONLY
def test_a_reader_without_editions_is_told_what_will_come(
    client: TestClient, stored: Engine
) -> None:
    token, _ = reader_with_editions(stored, "new@example.com", 0)
    page = client.get(f"/u/{token}").text
    assert "Your past editions" in page
    assert "None yet" in page
    everything = client.get(f"/u/{token}/editions")
    assert everything.status_code == 200
    assert "No edition yet" in everything.text


def test_all_editions_page_newest_first_with_navigation_at_both_ends(
    client: TestClient, stored: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(past_editions, "PER_PAGE", 3)
    token, ids = reader_with_editions(stored, "pages@example.com", 8)
    seen: list[tuple[str, str]] = []
    for page in (1, 2, 3):
        answer = client.get(f"/u/{token}/editions", params={"page": page})
        assert answer.status_code == 200
        assert f"Page {page} of 3" in answer.text
        assert answer.text.count('<nav class="days"') == 2  # top and bottom
        assert ("Older editions" in answer.text) == (page < 3)
        assert ("Newer editions" in answer.text) == (page > 1)
        seen += listed(answer.text)
    dates = [d for d, _ in seen]
    assert dates == sorted(dates, reverse=True)
    assert len(set(dates)) == 8
    assert {int(i) for _, i in seen} == set(ids)
    assert client.get(f"/u/{token}/editions", params={"page": 4}).status_code == 404
    assert client.get("/u/not-a-token/editions").status_code == 404


@SQLITE_ONLY
def test_the_digest_says_view_in_your_browser_and_the_link_opens_its_edition(
    client: TestClient, stored: Engine, web_settings: Settings, feed_token: str
) -> None:
    digest = preview_digest(stored, web_settings, email="reader@example.com", now=NOW)
    with session_scope(stored) as session:
        reader = find_by_email(session, "reader@example.com")
        assert reader is not None
        token = reader.token
        edition = session.exec(select(Edition).where(Edition.subscriber_id == reader.id)).one()
    url = f"http://testserver/e/{token}/{edition.id}"
    assert f"View in your browser: {url}" in digest.rendered.text
    # At the top of both parts, before the first paper.
    assert digest.rendered.text.index(url) < digest.rendered.text.index("1. ")
    html = digest.rendered.html
    assert re.search(rf'<a href="{re.escape(url)}"[^>]*>View in your browser</a>', html)
    assert html.index("View in your browser") < html.index("Hello")
    page = client.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "Your papers for Friday, 25 September 2026" in page.text
