"""Hostile values the web app shows or is sent (issue 14, item 11), through the real app.

RSS titles from upstream are text in every reader, "GitHub" links lead to GitHub only, and
``/healthz`` says the database is down without saying where it lives.
"""

from __future__ import annotations

import html
import re
from datetime import date

import feedparser
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.subscribers import create_subscriber
from paperfeed.web.app import create_app
from tests.web.web_samples import (
    HOSTILE_PAPER,
    HOSTILE_TITLE,
    NOW,
    SQLITE_ONLY,
    MemoryTransport,
    crawled_at,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@SQLITE_ONLY
def test_an_rss_title_with_markup_is_text_in_a_reader_and_atom_stays_plain(
    client: TestClient,
) -> None:
    rss = feedparser.parse(client.get("/feeds/daily.rss").content)
    atom = feedparser.parse(client.get("/feeds/daily.atom").content)
    assert rss.bozo == 0
    assert atom.bozo == 0
    [in_rss] = [e for e in rss.entries if e.link.endswith(HOSTILE_PAPER)]
    [in_atom] = [e for e in atom.entries if e.link.endswith(HOSTILE_PAPER)]
    assert in_rss.title_detail.type == "text/html"  # how readers take an RSS title
    assert "<" not in in_rss.title
    assert html.unescape(in_rss.title) == HOSTILE_TITLE
    assert in_atom.title_detail.type == "text/plain"
    assert in_atom.title == HOSTILE_TITLE


@SQLITE_ONLY
def test_a_github_link_on_a_page_leads_only_to_github(client: TestClient, stored: Engine) -> None:
    day = date(2026, 9, 30)
    repos = {
        "2609.77001": "https://evil.example/github.com/lab/repo",
        "2609.77002": "https://github.com.evil.example/lab/repo",
        "2609.77003": "https://github.com/lab/real",
    }
    papers = tuple(
        PaperRecord(arxiv_id=i, title=f"Paper {i}", abstract="About things.", github_repo=url)
        for i, url in repos.items()
    )
    listings = tuple(
        ListingRecord(day, p.arxiv_id, rank=n + 1, upvotes=10 - n, comments=0)
        for n, p in enumerate(papers)
    )
    result = DayResult(
        day=day, kind="daily", status="ok", source="api", papers=papers, listings=listings
    )
    with session_scope(stored) as session:
        at = crawled_at(day)
        save_day(session, result, started_at=at, finished_at=at, settled=True)
    page = client.get(f"/archive/{day.isoformat()}")
    assert page.status_code == 200
    assert 'href="https://github.com/lab/real"' in page.text
    assert "evil.example" not in page.text


def test_healthz_says_the_database_is_down_without_naming_it(web_settings: Settings) -> None:
    url = "postgresql+psycopg://bob:hunter2@127.0.0.1:1/secretstore?connect_timeout=3"
    settings = web_settings.model_copy(update={"database_url": url})
    engine = make_engine(url)
    try:
        app = create_app(settings, engine=engine, transport=MemoryTransport())
        with TestClient(app) as client:
            answer = client.get("/healthz")
    finally:
        engine.dispose()
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "error"
    assert body["database"] == "unreachable"
    for secret in ("127.0.0.1", "secretstore", "bob", "hunter2", "5432", "port 1"):
        assert secret not in answer.text, secret


@SQLITE_ONLY
def test_a_bug_s_500_page_still_carries_the_security_headers(
    web_settings: Settings, stored: Engine
) -> None:
    app = create_app(web_settings, engine=stored, transport=MemoryTransport())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(2):
            answer = client.get("/boom")
            assert answer.status_code == 500
            assert "Something went wrong" in answer.text
            assert "a bug" not in answer.text
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers.get_list("content-security-policy") == [
                answer.headers["content-security-policy"]
            ]


@SQLITE_ONLY
def test_the_preferences_form_refuses_the_values_that_were_a_500(
    client: TestClient, stored: Engine
) -> None:
    with session_scope(stored) as session:
        token = create_subscriber(
            session, email="p@example.com", interests="llm", now=NOW, confirmed=True
        ).token
    page = client.get(f"/u/{token}")
    csrf = CSRF.search(page.text)
    assert csrf is not None
    for field, value in (("send_hour", "²"), ("timezone", "America"), ("timezone", "A" * 300)):
        data = {"csrf": csrf.group(1), "interests": "llm", "timezone": "UTC", "send_hour": "7"}
        data |= {"frequency": "daily", field: value}
        answer = client.post(f"/u/{token}", data=data)
        assert answer.status_code == 400, (field, answer.status_code)
        assert "content-security-policy" in answer.headers


@SQLITE_ONLY
def test_every_rss_title_of_the_shared_hostile_day_is_text(
    client: TestClient, stored: Engine
) -> None:
    from tests.support.hostile_day import HOSTILE_DAY, hostile_result

    day = hostile_result()
    with session_scope(stored) as session:
        at = crawled_at(HOSTILE_DAY)
        save_day(session, day, started_at=at, finished_at=at, settled=True)
    rss = feedparser.parse(client.get("/feeds/daily.rss").content)
    atom = feedparser.parse(client.get("/feeds/daily.atom").content)
    assert rss.bozo == 0
    assert atom.bozo == 0
    stored_ids = {paper.arxiv_id for paper in day.papers}
    rss_titles = {e.link.rsplit("/", 1)[-1]: e.title for e in rss.entries}
    atom_titles = {e.link.rsplit("/", 1)[-1]: e.title for e in atom.entries}
    hostile = stored_ids & set(rss_titles)
    assert len(hostile) >= 5
    for paper_id in hostile:
        assert "<" not in rss_titles[paper_id], paper_id
        assert html.unescape(rss_titles[paper_id]) == atom_titles[paper_id]
