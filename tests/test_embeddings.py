"""Embeddings in the store and the hybrid ranker in compose, on SQLite and PostgreSQL.

With a small deterministic encoder (no extra needed): vectors are computed once and read
back after, the embed pass covers every paper and every receiving subscriber's topics and
only what changed afterwards, stale topic vectors are pruned, and a composed edition holds
the paper found by meaning with its "similar to" reason. Without the extra, asking for the
hybrid ranker is one clear error naming the extra.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawler.records import DayResult, ListingRecord
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.errors import MissingExtra
from paperfeed.jobs.embed import embed_pending
from paperfeed.ranking.encoder import semantic_available
from paperfeed.ranking.hybrid import HybridSettings
from paperfeed.ranking.paper_record import Document
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.embeddings import prune_topic_vectors
from paperfeed.store.models import (
    EditionPaper,
    PaperEmbedding,
    Subscriber,
    TopicEmbedding,
)
from paperfeed.store.subscribers import create_subscriber
from paperfeed.stored_vectors import StoredVectors
from tests.support.fake_encoder import SAMPLE_DAY, SAMPLE_PAPERS, FakeEncoder

DAY, PAPERS = SAMPLE_DAY, SAMPLE_PAPERS


def _store_day(engine: Engine) -> None:
    listings = tuple(
        ListingRecord(DAY, p.arxiv_id, rank=i + 1, upvotes=10 * (3 - i), comments=0)
        for i, p in enumerate(PAPERS)
    )
    result = DayResult(
        day=DAY, kind="daily", status="ok", source="api", papers=PAPERS, listings=listings
    )
    settled = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC)
    with session_scope(engine) as session:
        save_day(session, result, started_at=settled, finished_at=settled, settled=True)


def _subscribe(engine: Engine, email: str, interests: str) -> int:
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email=email,
            interests=interests,
            now=datetime(2026, 9, 1, tzinfo=UTC),
            send_hour=7,
            confirmed=True,
        )
        assert subscriber.id is not None
        return subscriber.id


def _count(engine: Engine, table: type[PaperEmbedding] | type[TopicEmbedding]) -> int:
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_paper_vectors_are_computed_once_then_read_from_the_store(engine: Engine) -> None:
    _store_day(engine)
    encoder = FakeEncoder()
    docs = [Document(paper_id=p.arxiv_id, title=p.title, abstract=p.abstract) for p in PAPERS]

    first = StoredVectors(engine, encoder).paper_vectors(docs)
    asked = len(encoder.encoded)
    again = StoredVectors(engine, encoder).paper_vectors(list(reversed(docs)))

    assert asked == len(PAPERS)
    assert len(encoder.encoded) == asked  # nothing encoded the second time
    assert first.shape == (3, 384)
    assert abs(float(first[0] @ again[2]) - 1.0) < 1e-2  # same paper, same vector, any order
    assert _count(engine, PaperEmbedding) == len(PAPERS)


def test_the_embed_pass_covers_papers_and_topics_then_only_what_changed(engine: Engine) -> None:
    _store_day(engine)
    ada = _subscribe(engine, "ada@example.com", "efficient attention\nprotein design")
    _subscribe(engine, "bob@example.com", "efficient attention")
    encoder = FakeEncoder()

    first = embed_pending(engine, encoder)
    second = embed_pending(engine, encoder)
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, ada)
        assert subscriber is not None
        subscriber.interests = "efficient attention\nprotein folding"
    third = embed_pending(engine, encoder)

    assert (first.papers, first.topics) == (3, 2)  # the shared topic once
    assert (second.papers, second.topics) == (0, 0)
    assert (third.papers, third.topics) == (0, 1)  # only the edited line
    with session_scope(engine) as session:
        pruned = prune_topic_vectors(session, keep=["efficient attention", "protein folding"])
        kept = session.exec(select(TopicEmbedding.text).order_by(col(TopicEmbedding.text))).all()
    assert pruned == 1
    assert list(kept) == ["efficient attention", "protein folding"]


def test_a_composed_edition_holds_the_paper_found_by_meaning(engine: Engine) -> None:
    _store_day(engine)
    _subscribe(engine, "ada@example.com", "efficient attention")
    corpus = CorpusCache(HybridSettings(), encoder=FakeEncoder())

    summary = compose_due(
        engine,
        now=datetime(2026, 9, 29, 8, tzinfo=UTC),
        policy=EditionPolicy(also_trending=0),
        corpus=corpus,
        local_date=date(2026, 9, 29),
    )

    assert summary.editions == 1
    with session_scope(engine) as session:
        rows = session.exec(
            select(EditionPaper.paper_id, EditionPaper.reasons).order_by(col(EditionPaper.rank))
        ).all()
    picked = {paper_id: tuple(reasons) for paper_id, reasons in rows}
    assert set(picked) == {"2205.14135", "2302.10866"}
    assert picked["2302.10866"] == ("similar to: efficient attention",)
    # Compose stored what it had to compute: the next pass reads vectors.
    assert _count(engine, PaperEmbedding) == len(PAPERS)
    assert _count(engine, TopicEmbedding) == 1


@pytest.mark.skipif(semantic_available(), reason="the semantic extra is installed here")
def test_the_hybrid_ranker_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", ranker="hybrid")

    with pytest.raises(MissingExtra, match=r"pip install 'paperfeed\[semantic\]'"):
        CorpusCache.for_settings(settings)


@pytest.mark.skipif(semantic_available(), reason="the semantic extra is installed here")
def test_paperfeed_embed_without_the_extra_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        "PAPERFEED_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}",
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
    }
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0

    result = runner.invoke(app, ["embed"], env=env)

    assert result.exit_code == 2
    assert "paperfeed[semantic]" in result.output
    assert "Traceback" not in result.output
