"""Feed documents and entries: valid RSS 2.0 and Atom, entries in order, escaped bodies,
stable bytes, tag URI ids, dates counting down."""

from __future__ import annotations

import html
import locale
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import feedparser
import pytest

from paperfeed.feeds.entries import FeedEntry, dated_in_order, entry_id, paper_entry
from paperfeed.feeds.rss_atom import render_feed
from paperfeed.paper_view import paper_view
from paperfeed.store.models import Paper
from tests.feeds.feed_samples import META, T0


def paper(n: int, **changes: object) -> Paper:
    values: dict[str, object] = {
        "arxiv_id": f"2609.{n:05d}",
        "title": f"Paper number {n}",
        "abstract": f"Abstract {n}.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "github_repo": "https://github.com/example/repo",
        "project_page": "https://example.org/project",
        "first_seen_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return Paper(**values)  # type: ignore[arg-type]


def guid(n: int) -> str:
    return f"tag:paperfeed.example,2026:daily/2026-09-22/2609.{n:05d}"


def daily_entry(
    paper: Paper, *, published: datetime = T0, upvotes: int = 1, reasons: tuple[str, ...] = ()
) -> FeedEntry:
    """The daily feed's entry of ``paper``, its guid from its number."""
    view = paper_view(paper, upvotes=upvotes)
    guid_ = guid(int(paper.arxiv_id[-5:]))
    return paper_entry(view, guid=guid_, published=published, reasons=reasons)


def items(count: int) -> list[FeedEntry]:
    return [
        daily_entry(paper(n), published=T0 - timedelta(days=n // 5), upvotes=100 - n)
        for n in range(count)
    ]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_feed_parses_cleanly_with_every_item_in_order(fmt: str) -> None:
    raw = render_feed(META, items(12), fmt)  # type: ignore[arg-type]
    parsed = feedparser.parse(raw)
    assert parsed.bozo == 0
    assert parsed.version == ("rss20" if fmt == "rss" else "atom10")
    assert [e.title for e in parsed.entries] == [f"Paper number {n}" for n in range(12)]
    first = parsed.entries[0]
    # The id is the entry's own (see entries.py), not the paper's page, which is the link.
    assert [e.id for e in parsed.entries] == [guid(n) for n in range(12)]
    assert first.link == "https://huggingface.co/papers/2609.00000"
    if fmt == "rss":
        assert f'<guid isPermaLink="false">{guid(0)}</guid>'.encode() in raw
        # One dc:creator naming every author: readers show only the last of several.
        assert raw.count(b"<dc:creator>") == 12
        assert [a.name for a in first.authors] == ["Ada Lovelace, Alan Turing"]
    else:
        assert [a.name for a in first.authors] == ["Ada Lovelace", "Alan Turing"]
    assert first.published_parsed[:6] == (2026, 9, 22, 7, 0, 0)
    assert parsed.feed.link == "https://paperfeed.example/"


def test_dates_are_rfc_822_in_rss_and_rfc_3339_in_atom_with_their_offset() -> None:
    berlin = timezone(timedelta(hours=2))
    one = [daily_entry(paper(1), published=datetime(2026, 9, 22, 9, 0, tzinfo=berlin))]
    rss = render_feed(META, one, "rss").decode()
    atom = render_feed(META, one, "atom").decode()
    assert "<pubDate>Tue, 22 Sep 2026 09:00:00 +0200</pubDate>" in rss
    assert "<published>2026-09-22T09:00:00+02:00</published>" in atom
    with pytest.raises(ValueError, match="no time zone"):
        daily_entry(paper(1), published=datetime(2026, 9, 22, 9, 0))


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_the_body_is_escaped_html_with_links_and_upvotes(fmt: str) -> None:
    hostile = paper(
        7,
        title='<script>alert("t")</script> Bold & brave',
        abstract="We <b>inject</b> & escape.\x00\x0b",
        github_repo="javascript:alert(1)",
    )
    item = daily_entry(hostile, reasons=("topic: <llm>",))
    raw = render_feed(META, [item], fmt)  # type: ignore[arg-type]
    assert b"<script>" not in raw
    assert b"<b>inject</b>" not in raw
    parsed = feedparser.parse(raw)
    assert parsed.bozo == 0
    entry = parsed.entries[0]
    body = entry.content[0].value if fmt == "atom" else entry.summary
    assert 'href="https://arxiv.org/abs/2609.00007"' in body
    assert 'href="https://arxiv.org/pdf/2609.00007"' in body
    assert "javascript:" not in body
    assert "1 upvote" in body
    assert "&lt;b&gt;inject&lt;/b&gt;" in body
    assert "topic: &lt;llm&gt;" in body
    title = '<script>alert("t")</script> Bold & brave'
    if fmt == "rss":
        # Readers (feedparser among them) take an RSS title as HTML: the HTML must be the
        # escaped title, which shows the characters as written, never a tag.
        assert entry.title_detail.type == "text/html"
        assert "<" not in entry.title
        assert html.unescape(entry.title) == title
    else:
        assert entry.title_detail.type == "text/plain"
        assert entry.title == title


def test_an_rss_channel_title_is_escaped_too() -> None:
    meta = replace(META, title="topic: <img src=x onerror=alert(1)>")
    parsed = feedparser.parse(render_feed(meta, items(1), "rss"))
    assert parsed.bozo == 0
    assert "<img" not in parsed.feed.title
    assert html.unescape(parsed.feed.title) == meta.title


def test_the_same_papers_give_the_same_bytes() -> None:
    assert render_feed(META, items(5), "atom") == render_feed(META, items(5), "atom")
    assert render_feed(META, items(5), "rss") == render_feed(META, items(5), "rss")


def test_builds_in_many_threads_keep_their_dates_and_the_locale() -> None:
    before = locale.setlocale(locale.LC_ALL)
    expected = render_feed(META, items(20), "rss")
    results: list[bytes] = []

    def build() -> None:
        for _ in range(5):
            results.append(render_feed(META, items(20), "rss"))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 20
    assert locale.setlocale(locale.LC_ALL) == before


def test_entry_ids_are_tag_uris_of_the_sites_host_without_its_port() -> None:
    assert entry_id("https://Paperfeed.Example:8443/x", "daily", "2026-09-22", "2609.1") == (
        "tag:paperfeed.example,2026:daily/2026-09-22/2609.1"
    )
    assert entry_id("http://127.0.0.1:8000", "edition", "7", "a/b c") == (
        "tag:127.0.0.1,2026:edition/7/a%2Fb%20c"
    )
    assert entry_id("http://[::1]:8000", "daily", "x") == "tag:localhost,2026:daily/x"


def test_dates_count_down_the_feed_and_a_later_group_starts_from_its_own() -> None:
    at = T0.replace(microsecond=0)
    anchors = [T0 + timedelta(microseconds=500)] * 3 + [T0 - timedelta(days=1)] * 2 + [T0] * 2
    given = [daily_entry(paper(n), published=a) for n, a in enumerate(anchors)]
    second = timedelta(seconds=1)
    day_before = at - timedelta(days=1)
    assert [i.published for i in dated_in_order(given)] == [
        at, at - second, at - 2 * second,  # a day's papers count down from its date
        day_before, day_before - second,  # the day before keeps its own
        day_before - 2 * second, day_before - 3 * second,  # never above the item before
    ]  # fmt: skip
