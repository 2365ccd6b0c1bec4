"""One selection for every caller: compose, `paperfeed preview`, `paperfeed rank`, the web preview.

Each caller asks ``paperfeed.digest.pick_papers`` (or composes, for `paperfeed preview`) and
so gets compose's picks for the same subscriber and day: the subscriber's local date (a
Tokyo subscriber's Monday starts while it is still Sunday in UTC), their frequency's
look-back (a weekly edition covers its week), papers settled since their previous edition,
never a paper sent before, and the configured ranker (PAPERFEED_RANKER=hybrid included).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

import paperfeed.corpus
from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.ranking.encoder import semantic_available
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.editions import PlannedEdition, write_editions
from paperfeed.store.models import Edition, EditionPaper, Frequency, Subscriber
from paperfeed.store.subscribers import create_subscriber
from paperfeed.web.app import create_app
from paperfeed.web.live_preview import preview_digest as web_preview
from tests.support.fake_encoder import SAMPLE_DAY, SAMPLE_PAPERS, FakeEncoder

runner = CliRunner()

# Monday 2026-09-28, 00:30 in Tokyo: still Sunday 27 September in UTC.
NOW = datetime(2026, 9, 27, 15, 30, tzinfo=UTC)
MONDAY = date(2026, 9, 28)
# Their last edition (the Thursday before, when they were still daily) was made here.
PREVIOUS_EDITION_AT = datetime(2026, 9, 23, 22, tzinfo=UTC)
INTERESTS = '"speculative decoding"'

# (id, title, listing day, upvotes); each day settles 6 h after it ends (UTC).
PAPERS = (
    # Settled before the previous edition: compose never offers it again.
    ("2609.00001", "Speculative Decoding with Draft Trees", date(2026, 9, 22), 5),
    # Settled since: in a weekly edition, beyond a two-day look-back.
    ("2609.00002", "Speculative Decoding via Optimal Transport", date(2026, 9, 24), 7),
    ("2609.00003", "Protein Folding at Scale with Diffusion", date(2026, 9, 24), 90),
    # Saturday's list: outside Monday's one-day look-back (local), inside Sunday's (UTC).
    ("2609.00004", "Speculative Decoding Goes Parallel", date(2026, 9, 26), 3),
)


def _store_papers(engine: Engine) -> None:
    for day in sorted({p[2] for p in PAPERS}):
        on_day = [p for p in PAPERS if p[2] == day]
        result = DayResult(
            day=day,
            kind="daily",
            status="ok",
            source="api",
            papers=tuple(
                PaperRecord(arxiv_id=i, title=t, abstract=f"{t}. An abstract about {t.lower()}.")
                for i, t, _, _ in on_day
            ),
            listings=tuple(
                ListingRecord(day, i, rank=n + 1, upvotes=votes, comments=0)
                for n, (i, _, _, votes) in enumerate(on_day)
            ),
        )
        settled = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        settled += timedelta(hours=6)
        with session_scope(engine) as session:
            save_day(session, result, started_at=settled, finished_at=settled, settled=True)


def _subscriber(engine: Engine, frequency: str) -> Subscriber:
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email="kenji@example.com",
            interests=INTERESTS,
            now=datetime(2026, 9, 1, tzinfo=UTC),
            timezone="Asia/Tokyo",
            send_hour=0,
            frequency=frequency,
            confirmed=True,
        )
        assert subscriber.id is not None
        write_editions(
            session,
            [PlannedEdition(subscriber.id, date(2026, 9, 24), (), deliver=False)],
            now=PREVIOUS_EDITION_AT,
        )
        return subscriber


def _live_preview(settings: Settings, engine: Engine, token: str) -> str:
    """The preferences page's live preview fragment, through the web app at ``NOW``."""
    web_settings = settings.model_copy(
        update={
            "public_url": "http://testserver",
            "secret_key": SecretStr("test-secret-key-" + "k" * 32),
            "mail_from": "paperfeed <digest@paperfeed.example>",
        }
    )
    with TestClient(create_app(web_settings, engine=engine, now=lambda: NOW)) as client:
        fragment = client.get(
            f"/u/{token}/preview", params={"fragment": "1", "interests": INTERESTS}
        )
    assert fragment.status_code == 200
    return fragment.text


def _composed(engine: Engine, local_date: date) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(EditionPaper.paper_id, EditionPaper.section)
            .join(Edition, col(Edition.id) == col(EditionPaper.edition_id))
            .where(Edition.local_date == local_date)
            .order_by(col(EditionPaper.rank))
        ).all()
    return [(paper_id, section) for paper_id, section in rows]


def _titles(ids: Sequence[str]) -> set[str]:
    return {title for paper_id, title, _, _ in PAPERS if paper_id in ids}


@pytest.mark.parametrize(
    ("frequency", "lookback_days", "expected"),
    [
        # Weekly: the week since last Monday, minus what settled before the last edition.
        (Frequency.WEEKLY, 7, ["2609.00002", "2609.00004", "2609.00003"]),
        # A weekly edition covers its week however short the configured look-back.
        (Frequency.WEEKLY, 2, ["2609.00002", "2609.00004", "2609.00003"]),
        # Daily with a one-day look-back: Monday's window (local), not Sunday's (UTC).
        (Frequency.DAILY, 1, []),
    ],
)
def test_previews_give_composes_picks_for_a_weekly_tokyo_reader_near_midnight(
    engine: Engine,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    frequency: str,
    lookback_days: int,
    expected: list[str],
) -> None:
    settings = settings.model_copy(update={"lookback_days": lookback_days})
    policy = EditionPolicy.from_settings(settings)
    corpus = CorpusCache()
    _store_papers(engine)
    subscriber = _subscriber(engine, frequency)
    env = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_PUBLIC_URL": "https://paperfeed.example",
        "PAPERFEED_LOOKBACK_DAYS": str(lookback_days),
    }

    web = web_preview(
        engine, corpus, interests=INTERESTS, now=NOW, policy=policy, subscriber=subscriber
    )
    page = _live_preview(settings, engine, subscriber.token)
    shown = runner.invoke(
        app,
        ["preview", "--subscriber", subscriber.email, "--date", str(MONDAY), "--out", "out"],
        env=env,
    )
    summary = compose_due(engine, now=NOW, policy=policy, corpus=corpus)
    composed = _composed(engine, MONDAY)

    assert summary.editions == 1
    assert [paper_id for paper_id, _ in composed] == expected
    web_picks = [(c.paper.arxiv_id, c.section) for c in (*web.matched, *web.trending)]
    assert web_picks == composed
    assert (web.since, web.until) == (
        MONDAY - timedelta(days=7 if frequency == Frequency.WEEKLY else lookback_days),
        MONDAY,
    )
    assert {title for _, title, _, _ in PAPERS if title in page} == _titles(expected)
    assert f"From {web.considered} papers listed {web.since} to {MONDAY}" in page
    assert shown.exit_code == 0, shown.output
    assert f"{MONDAY}: {len(composed)} papers (composed for this preview" in shown.stdout
    text = Path(f"out/{subscriber.email}-{MONDAY}.txt").read_text(encoding="utf-8")
    in_mail = {title for _, title, _, _ in PAPERS if title in text}
    assert in_mail == _titles([paper_id for paper_id, _ in composed])


def _cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_PUBLIC_URL": "https://paperfeed.example",
        "PAPERFEED_FROM": "paperfeed <digest@example.org>",
        "PAPERFEED_ALSO_TRENDING": "0",
    }
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    return env


def test_rank_shows_the_matches_compose_picks_from_that_days_list(
    tmp_path: Path, database_url: str
) -> None:
    env = _cli_env(tmp_path, database_url)
    engine = make_engine(database_url)
    _store_papers(engine)
    day = date(2026, 9, 24)  # with a one-day look-back, its edition holds that list alone
    added = runner.invoke(
        app,
        ["subscribers", "add", "a@example.com", "--interests", INTERESTS, "--confirmed"],
        env=env,
    )
    assert added.exit_code == 0, added.output

    ranked = runner.invoke(
        app, ["rank", "--interests", INTERESTS, "--date", str(day)], env={**env, "COLUMNS": "200"}
    )
    composed = runner.invoke(
        app, ["compose", "--date", str(day)], env={**env, "PAPERFEED_LOOKBACK_DAYS": "1"}
    )

    assert ranked.exit_code == 0, ranked.output
    assert composed.exit_code == 0, composed.output
    picked = [paper_id for paper_id, _ in _composed(engine, day)]
    engine.dispose()
    assert picked == ["2609.00002"]
    assert "1 of 2 papers of 2026-09-24 match" in ranked.output
    assert all(paper_id in ranked.output for paper_id in picked)


HYBRID_DAY, HYBRID_PAPERS = SAMPLE_DAY, SAMPLE_PAPERS


def _hybrid_store(database_url: str) -> None:
    engine = make_engine(database_url)
    result = DayResult(
        day=HYBRID_DAY,
        kind="daily",
        status="ok",
        source="api",
        papers=HYBRID_PAPERS,
        listings=tuple(
            ListingRecord(HYBRID_DAY, p.arxiv_id, rank=i + 1, upvotes=10, comments=0)
            for i, p in enumerate(HYBRID_PAPERS)
        ),
    )
    settled = datetime.combine(HYBRID_DAY + timedelta(days=1), datetime.min.time(), UTC)
    with session_scope(engine) as session:
        save_day(session, result, started_at=settled, finished_at=settled, settled=True)
        create_subscriber(
            session,
            email="ada@example.com",
            interests="efficient attention",
            now=datetime(2026, 9, 1, tzinfo=UTC),
            confirmed=True,
        )
    engine.dispose()


def _preview(env: dict[str, str], tmp_path: Path) -> str:
    day = str(HYBRID_DAY + timedelta(days=1))
    shown = runner.invoke(
        app,
        ["preview", "--subscriber", "ada@example.com", "--date", day, "--out", str(tmp_path)],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    return (tmp_path / f"ada@example.com-{day}.txt").read_text(encoding="utf-8")


def test_paperfeed_preview_ranks_with_the_hybrid_when_configured(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _cli_env(tmp_path, database_url)
    _hybrid_store(database_url)
    lexical = _preview(env, tmp_path / "lexical")
    # The deterministic encoder stands in for the model (no semantic extra needed).
    monkeypatch.setattr(paperfeed.corpus, "require_semantic", lambda: None)
    encoder = FakeEncoder()
    monkeypatch.setattr(paperfeed.corpus, "shared_encoder", lambda: encoder)

    hybrid = _preview({**env, "PAPERFEED_RANKER": "hybrid"}, tmp_path / "hybrid")

    assert "Hyena Hierarchy" not in lexical
    assert "Hyena Hierarchy" in hybrid
    assert "similar to: efficient attention" in hybrid
    assert encoder.encoded  # the hybrid ranked it


@pytest.mark.skipif(semantic_available(), reason="the semantic extra is installed here")
def test_paperfeed_preview_with_the_hybrid_and_no_extra_names_the_extra(
    tmp_path: Path, database_url: str
) -> None:
    env = {**_cli_env(tmp_path, database_url), "PAPERFEED_RANKER": "hybrid"}
    _hybrid_store(database_url)

    shown = runner.invoke(app, ["preview", "--subscriber", "ada@example.com"], env=env)

    assert shown.exit_code == 2
    assert "paperfeed[semantic]" in shown.output
