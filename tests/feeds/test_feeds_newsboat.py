"""Four feeds in a real feed reader: Debian's newsboat reads what ``paperfeed serve`` serves.

Issue 18: readers keep one item per id (newsboat across all the feeds it reads), so with the
paper's page as every item's id, papers in two feeds (or listed on two days) vanished; and
readers sort by date, so with one date per day or edition the top pick came 6th and "also
trending" mixed into the picks. Here newsboat subscribes the daily feed, a personal feed and
two topic feeds (RSS and Atom, one topic of two lines) served over HTTP by a real ``paperfeed
serve`` process; ``newsboat -x reload`` fetches them into its SQLite cache, which the test
reads: every item of every feed is there, sorted by date it is in ranked order, with one line
of authors. Without newsboat the test is skipped, except on CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from paperfeed.corpus import CorpusCache
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.models import Edition, EditionPaper, Listing
from paperfeed.store.subscribers import create_subscriber
from tests.support.data_paths import CORPUS
from tests.web.web_process import served

pytestmark = pytest.mark.slow

FIRST_DAY = date(2026, 9, 21)
DAYS = 4
PER_DAY = 14
INTERESTS = "large language models\nreasoning"
# Two topics: one overlaps the personal feed, the other is two lines (a title is one line).
TOPICS = ("attention", "efficient\ncomputational")
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def newsboat() -> str:
    """The newsboat program; skipped without it, except on CI, where it must be there."""
    found = shutil.which("newsboat")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the feed reader test: install Debian's newsboat")
        pytest.skip("Debian's newsboat is not installed (apt-get install -y newsboat)")
    return found


def settled_at(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=7)


def store_day(engine: Engine, n: int, docs: list[dict[str, str]]) -> None:
    """Day ``n``'s list: real papers, upvotes out of list order; day 2 lists day 0's top again."""
    day = FIRST_DAY + timedelta(days=n)
    papers = [
        PaperRecord(
            arxiv_id=f"2609.{n:02d}{i:03d}",
            title=doc["title"],
            abstract=doc["abstract"],
            authors=(f"Author {n}{i}", "Ada Lovelace") if i % 2 == 0 else (f"Author {n}{i}",),
        )
        for i, doc in enumerate(docs[(n * PER_DAY + i) * 11 % len(docs)] for i in range(PER_DAY))
    ]
    if n == 2:  # Hugging Face lists older papers again: one paper, two days, two items
        first = docs[0]
        papers.append(
            PaperRecord(
                arxiv_id="2609.00000",
                title=first["title"],
                abstract=first["abstract"],
                authors=("Author 00", "Ada Lovelace"),
            )
        )
    listings = tuple(
        ListingRecord(day, p.arxiv_id, rank=i + 1, upvotes=(i * 37 + n * 11) % 97 + 1, comments=0)
        for i, p in enumerate(papers)
    )
    result = DayResult(day, "daily", "ok", "api", tuple(papers), listings)
    at = settled_at(day)
    with session_scope(engine) as session:
        save_day(session, result, started_at=at, finished_at=at, settled=True)


@pytest.fixture
def filled(engine: Engine) -> tuple[Engine, str]:
    """Four settled days and a reader with an edition after each: the store and the feed key."""
    with CORPUS.open(encoding="utf-8") as handle:
        docs = [json.loads(line) for line in handle]
    with session_scope(engine) as session:
        token = create_subscriber(
            session,
            email="reader@example.com",
            interests=INTERESTS,
            now=datetime.combine(FIRST_DAY, datetime.min.time(), UTC),
            confirmed=True,
            send_hour=8,
        ).feed_token
    for n in range(DAYS):
        store_day(engine, n, docs)
        compose_due(
            engine,
            now=settled_at(FIRST_DAY + timedelta(days=n)) + timedelta(hours=2),
            policy=EditionPolicy(),
            corpus=CorpusCache(),
        )
    return engine, token


def daily_order(engine: Engine) -> list[str]:
    """The daily feed's papers as ranked: newest day first, most upvoted first."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Listing.listing_date, Listing.upvotes, Listing.paper_id).where(
                col(Listing.kind) == "daily"
            )
        ).all()
    return [paper for _, _, paper in sorted(rows, key=lambda r: (-r[0].toordinal(), -r[1]))]


def personal_order(engine: Engine) -> list[str]:
    """The reader's editions, newest first; in each its picks by rank, then "also trending"."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(
                Edition.created_at, EditionPaper.section, EditionPaper.rank, EditionPaper.paper_id
            ).join(EditionPaper, col(EditionPaper.edition_id) == col(Edition.id))
        ).all()
    rows = sorted(rows, key=lambda r: (-r[0].timestamp(), r[1] == "trending", r[2]))
    return [paper for *_, paper in rows]


def document_order(url: str) -> list[str]:
    """The papers of a served feed (RSS or Atom) in the order of its document."""
    root = ET.fromstring(httpx.get(url, timeout=60).content)
    links = [item.findtext("link") or "" for item in root.iter("item")]
    links += [
        e.get("href", "") for entry in root.iter(f"{ATOM}entry") for e in entry.iter(f"{ATOM}link")
    ]
    return [link.rsplit("/", 1)[-1] for link in links]


def reload(program: str, tmp_path: Path, urls: list[str]) -> tuple[sqlite3.Connection, str]:
    """Subscribe ``urls`` in newsboat, fetch them all; its cache and what print-unread says."""
    (tmp_path / "urls").write_text("".join(url + "\n" for url in urls), encoding="utf-8")
    (tmp_path / "config").write_text("reload-threads 4\ndownload-timeout 60\n", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "LANG": "C.UTF-8", "PATH": os.environ.get("PATH", "")}
    base = [program, "-u", "urls", "-c", "cache.db", "-C", "config"]
    said = ""
    for action in ("reload", "print-unread"):
        done = subprocess.run(
            [*base, "-x", action], cwd=tmp_path, env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, (action, done.stdout, done.stderr)
        said = done.stdout.decode("utf-8", "replace").strip()
    return sqlite3.connect(tmp_path / "cache.db"), said


def test_newsboat_shows_every_item_of_four_feeds_in_ranked_order(
    newsboat: str, filled: tuple[Engine, str], tmp_path: Path, database_url: str
) -> None:
    engine, token = filled
    settings = {
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_SECRET_KEY": "newsboat-secret-" + "n" * 32,
    }
    with served(tmp_path, settings) as site:
        urls = [
            f"{site}/feeds/daily.rss",
            f"{site}/feeds/u/{token}.atom",
            f"{site}/feeds/topic.rss?q={quote(TOPICS[0], safe='')}",
            f"{site}/feeds/topic.atom?q={quote(TOPICS[1], safe='')}",
        ]
        topics = [document_order(url) for url in urls[2:]]
        cache, unread = reload(newsboat, tmp_path, urls)

    expected = {
        urls[0]: daily_order(engine),
        urls[1]: personal_order(engine),
        urls[2]: topics[0],
        urls[3]: topics[1],
    }
    # The feeds overlap, as they must for the test to mean anything: the daily feed lists a
    # paper on two days, the personal and topic feeds hold papers of the daily feed.
    assert len(expected[urls[0]]) == DAYS * PER_DAY + 1
    assert len(set(expected[urls[0]])) == DAYS * PER_DAY
    assert len(expected[urls[1]]) >= 3 * DAYS
    assert all(len(papers) >= 4 for papers in topics)
    assert set(topics[0]) & set(expected[urls[1]])
    assert set(topics[0]) & set(topics[1])

    rows = cache.execute(
        "SELECT feedurl, url, author, pubDate FROM rss_item WHERE deleted = 0"
    ).fetchall()
    shown: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for feed, link, author, published in rows:
        shown[feed].append((published, link.rsplit("/", 1)[-1], author))
    for url, papers in expected.items():
        # Newest first, as readers sort; no two items at the same second (no tie to break).
        items = sorted(shown[url], reverse=True)
        assert [paper for _, paper, _ in items] == papers, url
        assert all(a[0] > b[0] for a, b in pairwise(items)), url
    total = sum(len(papers) for papers in expected.values())
    assert len(rows) == total
    assert unread == f"{total} unread articles"

    # One author line naming every author, in RSS (one dc:creator) as in Atom.
    for url in urls:
        authors = {paper: author for _, paper, author in shown[url]}
        for paper, author in authors.items():
            number = paper.removeprefix("2609.")
            name = f"Author {int(number[:2])}{int(number[2:])}"
            wanted = f"{name}, Ada Lovelace" if int(number[2:]) % 2 == 0 else name
            assert author == wanted, (url, paper)

    titles = dict(cache.execute("SELECT rssurl, title FROM rss_feed").fetchall())
    assert titles[urls[3]] == "paperfeed: efficient computational"
    assert all("\n" not in title for title in titles.values())
