"""Public pages and the operator endpoints: front page, archive, headers, health, metrics."""

from __future__ import annotations

import re
from datetime import date, timedelta

import feedparser
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import Engine

from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import DayView, Pick, Recipient, SubscriberDigest
from paperfeed.paper_view import paper_view
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.deliveries import digest_papers
from paperfeed.store.models import Delivery, DeliveryStatus, Edition
from paperfeed.store.subscribers import create_subscriber
from tests.web.web_samples import HOSTILE_PAPER, HOSTILE_TITLE, NOW, SQLITE_ONLY

TITLE = re.compile(r'<h3><span class="rank">\d+\.</span> <a href="[^"]+">([^<]+)</a>')


def test_the_front_page_shows_the_newest_list_most_upvoted_first_and_the_form(
    client: TestClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Trending on" in page.text
    assert "Thursday, 24 September 2026" in page.text  # the newest list, settled or not
    assert 'action="/subscribe"' in page.text
    assert 'id="timezone" name="timezone" data-auto="1"' in page.text
    votes = [int(v) for v in re.findall(r"▲ (\d+)", page.text)]
    assert votes == sorted(votes, reverse=True)
    assert len(votes) == 20


@SQLITE_ONLY
def test_every_page_carries_security_headers_and_no_inline_script(client: TestClient) -> None:
    for path in ("/", "/archive/2026-09-21", "/nowhere", "/feeds/daily.rss"):
        answer = client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"
        assert re.search(r"<script(?![^>]*\bsrc=)", answer.text) is None, path


@SQLITE_ONLY
def test_the_archive_shows_a_day_escaped_and_refuses_bad_dates(client: TestClient) -> None:
    page = client.get("/archive/2026-09-21")
    assert page.status_code == 200
    assert HOSTILE_TITLE not in page.text
    assert "&lt;script&gt;" in page.text
    assert "javascript:" not in page.text
    assert "Later day" in page.text
    assert f"/papers/{HOSTILE_PAPER}" in page.text
    assert client.get("/archive/2026-09-27").status_code == 404
    bad = client.get("/archive/yesterday")
    assert bad.status_code == 400
    assert "YYYY-MM-DD" in bad.text
    latest = client.get("/archive", follow_redirects=False)
    assert latest.headers["location"] == "http://testserver/archive/2026-09-24"


OLD_STYLE = "hep-th/9901001"
OLD_STYLE_LINKS = {
    "https://huggingface.co/papers/hep-th/9901001",
    "https://arxiv.org/abs/hep-th/9901001",
    "https://arxiv.org/pdf/hep-th/9901001",
}


def hrefs(html: str) -> set[str]:
    return {a.attributes.get("href") or "" for a in LexborHTMLParser(html).css("a")}


@SQLITE_ONLY
def test_an_old_style_arxiv_id_links_the_same_on_pages_in_feeds_and_in_mail(
    client: TestClient, stored: Engine
) -> None:
    day = date(2026, 9, 25)
    paper = PaperRecord(
        arxiv_id=OLD_STYLE, title="Strings and branes", abstract="A 1999 paper.", authors=("A",)
    )
    listing = ListingRecord(day, OLD_STYLE, rank=1, upvotes=3, comments=0)
    with session_scope(stored) as session:
        result = DayResult(day, "daily", "ok", "api", (paper,), (listing,))
        save_day(session, result, started_at=NOW, finished_at=NOW, settled=True)
    hf_page = "https://huggingface.co/papers/hep-th/9901001"

    page = client.get("/archive/2026-09-25")
    assert page.status_code == 200
    assert hrefs(page.text) >= OLD_STYLE_LINKS

    for fmt in ("rss", "atom"):
        feed = feedparser.parse(client.get(f"/feeds/daily.{fmt}").content)
        [entry] = [e for e in feed.entries if e.title == "Strings and branes"]
        assert entry.link == hf_page
        body = entry.content[0].value if fmt == "atom" else entry.summary
        assert hrefs(body) >= OLD_STYLE_LINKS - {hf_page}  # arXiv and PDF; the title links HF

    with session_scope(stored) as session:
        row = digest_papers(session, [OLD_STYLE])[OLD_STYLE]
    shown = paper_view(row, upvotes=row.upvotes, comments=row.comments)
    mail_day = DayView("paperfeed", day, (shown,), "http://testserver/archive/2026-09-25", "l@x")
    reader = Recipient("r@example.com", "http://p", "http://f", "http://u")
    mail = render_digest(compile_day(mail_day), SubscriberDigest(reader, (Pick(OLD_STYLE),)))
    assert hf_page in hrefs(mail.html)
    assert f"   {hf_page}\n" in mail.text
    for text in (page.text, mail.html, mail.text):
        assert "hep-th%2F" not in text


@SQLITE_ONLY
def test_static_files_are_served(client: TestClient) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/static/tz.js").status_code == 200


def test_health_reports_the_database_and_the_ages_of_the_last_crawl_and_send(
    client: TestClient, stored: Engine
) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["database"] == "ok"
    # The last crawl finished 2026-09-25 07:00; the clock says 09:00.
    assert health["last_crawl_age_seconds"] == 7200
    assert health["last_send_age_seconds"] is None


def test_metrics_are_prometheus_text_with_counts_by_status_and_send_latency(
    client: TestClient, stored: Engine
) -> None:
    with session_scope(stored) as session:
        reader = create_subscriber(
            session, email="m@example.com", interests="x", now=NOW, confirmed=True
        )
        edition = Edition(subscriber_id=reader.id or 0, local_date=NOW.date(), created_at=NOW)
        session.add(edition)
        session.flush()
        session.add(
            Delivery(
                edition_id=edition.id or 0,
                subscriber_id=reader.id or 0,
                status=DeliveryStatus.SENT,
                created_at=NOW - timedelta(minutes=30),
                sent_at=NOW - timedelta(minutes=29),
                updated_at=NOW,
            )
        )
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("paperfeed_papers", ())] == 82
    assert samples[("paperfeed_crawl_runs_total", (("status", "ok"),))] == 4
    assert samples[("paperfeed_crawl_errors_total", ())] == 0
    assert samples[("paperfeed_editions_total", ())] == 1
    assert samples[("paperfeed_deliveries", (("status", "sent"),))] == 1
    assert samples[("paperfeed_subscribers", (("status", "active"),))] == 1
    assert samples[("paperfeed_send_latency_seconds_count", ())] == 1
    assert samples[("paperfeed_send_latency_seconds_sum", ())] == 60
    assert samples[("paperfeed_send_latency_seconds_bucket", (("le", "30.0"),))] == 0
    assert samples[("paperfeed_send_latency_seconds_bucket", (("le", "60.0"),))] == 1


@SQLITE_ONLY
def test_an_unknown_page_is_a_readable_404(client: TestClient) -> None:
    page = client.get("/wp-login.php")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
