"""The hostile day through real processes (issue 14, item 1): ``paperfeed crawl`` against the
fake Hugging Face over real HTTP, on SQLite and PostgreSQL. The ordinary days around the
hostile ones are stored, the hostile day keeps its good and repairable papers, the day of
JSON nested 100,000 deep is an error day, and nothing stops; then ``paperfeed rank`` ranks
the stored hostile day quickly."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from paperfeed.store.db import make_engine
from paperfeed.store.models import CrawlRun, Listing, Paper
from tests.support.hostile_day import (
    AFTER_DAY,
    DEEP_DAY,
    GOOD_IDS,
    HOSTILE_DAY,
    REPAIRABLE_IDS,
    UNSTORABLE_IDS,
    HostileHF,
    hostile_hf,
)

PAPERFEED = [sys.executable, "-m", "paperfeed"]
FIRST, LAST = "2026-09-28", AFTER_DAY.isoformat()
RANK_BUDGET_SECONDS = 60.0  # a stored hostile day ranks in about a second here

pytestmark = pytest.mark.slow  # real processes, several seconds each


@pytest.fixture
def fake() -> Iterator[HostileHF]:
    with hostile_hf() as server:
        yield server


def _paperfeed(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAPERFEED, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def crawled(
    fake: HostileHF, database_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(
        PAPERFEED_VAR_DIR=str(tmp_path / "var"),
        PAPERFEED_DATABASE_URL=database_url,
        PAPERFEED_HF_BASE_URL=fake.url,
        PAPERFEED_HF_MAX_ATTEMPTS="1",
    )
    upgraded = _paperfeed(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    crawl = _paperfeed(["crawl", "--since", FIRST, "--until", LAST], env)
    return env, crawl.stdout + crawl.stderr


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _listed(session: Session, day: date) -> set[str]:
    rows = session.exec(
        select(Listing.paper_id).where(Listing.kind == "daily", Listing.listing_date == day)
    )
    return set(rows.all())


def test_the_hostile_days_are_stored_repaired_or_errors_and_nothing_stops(
    crawled: tuple[dict[str, str], str], engine: Engine
) -> None:
    _, output = crawled

    assert "Traceback" not in output, output[-3000:]
    assert "crawled 5 lists: 4 ok" in output, output[-3000:]  # 09-28, 29, 30, 10-01, 10-02
    assert "1 errors" in output
    with Session(engine) as session:
        # The ordinary days before and after the hostile ones are whole.
        assert len(_listed(session, date(2026, 9, 28))) == 28
        assert len(_listed(session, date(2026, 9, 29))) == 14
        assert len(_listed(session, AFTER_DAY)) == 5
        # The hostile day keeps its good papers and the repaired ones; the others are dropped.
        assert _listed(session, HOSTILE_DAY) == set(GOOD_IDS + REPAIRABLE_IDS)
        stored = session.exec(select(Paper).where(col(Paper.arxiv_id).in_(REPAIRABLE_IDS))).all()
        assert all(len(p.title.encode()) <= 900 for p in stored)
        assert any("\ufffd" in p.title for p in stored)  # the lone surrogates, replaced
        assert not set(session.exec(select(Paper.arxiv_id)).all()) & set(UNSTORABLE_IDS)
        runs = {
            (run.listing_date.isoformat(), run.status)
            for run in session.exec(select(CrawlRun).where(CrawlRun.kind == "daily")).all()
        }
    assert (DEEP_DAY.isoformat(), "error") in runs
    assert (HOSTILE_DAY.isoformat(), "ok") in runs
    # Every repair or drop was a warning line naming the day and the paper.
    assert f"{HOSTILE_DAY}: item 5 (2609.3000" in output
    assert f"{HOSTILE_DAY}: item 1 ({REPAIRABLE_IDS[0]}): title: lone UTF-16 surrogates" in output
    assert "nested deeper than can be parsed" in output


def test_ranking_the_stored_hostile_day_is_quick(crawled: tuple[dict[str, str], str]) -> None:
    env, _ = crawled
    started = time.monotonic()
    ranked = _paperfeed(
        [
            "rank",
            "--date",
            HOSTILE_DAY.isoformat(),
            "--interests",
            r"sparse attention\nstate space models\nState Space",
            "--limit",
            "20",
        ],
        env,
        timeout=RANK_BUDGET_SECONDS,
    )
    took = time.monotonic() - started

    assert ranked.returncode == 0, ranked.stderr[-3000:]
    assert f"of {len(GOOD_IDS + REPAIRABLE_IDS)} papers of {HOSTILE_DAY} match" in ranked.stdout
    assert "Sparse attention" in ranked.stdout
    assert took < RANK_BUDGET_SECONDS


def test_the_stored_hostile_day_composes_renders_sends_and_feeds(
    crawled: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, _ = crawled
    env = {**env, "PAPERFEED_SECRET_KEY": "hostile-day-secret-" + "k" * 32}
    steps = [
        ["subscribers", "add", "ada@example.com", "--confirmed", "--interests",
         r"sparse attention\nState Space\nscript"],
        ["compose", "--date", DEEP_DAY.isoformat()],  # the edition after the hostile day
        ["preview", "--subscriber", "ada@example.com", "--date", DEEP_DAY.isoformat(),
         "--out", str(tmp_path / "preview")],
        ["send"],
        ["feeds", "export", str(tmp_path / "feeds")],
    ]  # fmt: skip
    for args in steps:
        done = _paperfeed(args, env, timeout=RANK_BUDGET_SECONDS)
        assert done.returncode == 0, f"{args[0]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    (page,) = (tmp_path / "preview").glob("*.html")
    html = page.read_text(encoding="utf-8")
    assert len(html.encode()) < 102_000  # Gmail clips at 102 KB
    assert "&lt;script&gt;" in html  # the markup title was picked, and shown as text
    assert "<script>" not in html
    (sent,) = (tmp_path / "var" / "outbox").glob("*.eml")
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert "\u202e" not in str(message["Subject"])
    for name in ("daily.rss", "daily.atom"):
        feed = (tmp_path / "feeds" / name).read_bytes()
        ElementTree.fromstring(feed)  # well-formed XML despite every hostile value
        assert REPAIRABLE_IDS[2].encode() in feed
        assert b"<script>" not in feed
