"""The real sentence model behind the hybrid ranker (needs the semantic extra).

Run by ``make test`` in .venv-semantic (``pytest -m semantic``): the model loads from the
installed package with the network closed, finds the paper that says "efficient attention"
in other words, goes through ``paperfeed embed`` and ``paperfeed compose`` on SQLite and
PostgreSQL, and lifts nDCG@10 on the dev judgments by at least 0.02 over the lexical ranker,
measured with bench/ranking_run.py and data/ranking/evaluate.py as published.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.ranking.encoder import DIMENSIONS, MiniLMEncoder, paper_text
from paperfeed.ranking.hybrid import HybridRanker, HybridSettings
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.stats import TermStats
from paperfeed.ranking.vectors import MemoryVectors
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import EditionPaper
from paperfeed.store.subscribers import create_subscriber
from tests.ranking.digest_scores import digest_scores
from tests.support.data_paths import RANKING

pytestmark = pytest.mark.semantic

ROOT = Path(__file__).resolve().parents[2]

HYENA = PaperRecord(
    arxiv_id="2302.10866",
    title="Hyena Hierarchy: Towards Larger Convolutional Language Models",
    abstract="Recent advances in deep learning have relied heavily on the use of large "
    "Transformers due to their ability to learn at scale. We propose Hyena, a sub-quadratic "
    "drop-in replacement constructed by interleaving implicitly parametrized long "
    "convolutions and data-controlled gating, for sequence mixing in language models.",
)
PROTEIN = PaperRecord(
    arxiv_id="2310.01234",
    title="Protein Structure Generation with Diffusion Models",
    abstract="A diffusion model over backbone frames generates designable protein structures "
    "and binders, validated in the wet lab.",
)
SPEECH = PaperRecord(
    arxiv_id="2212.04356",
    title="Robust Speech Recognition via Large-Scale Weak Supervision",
    abstract="We study speech processing systems trained to predict large amounts of "
    "transcripts of audio on the internet.",
)
DAY = date(2026, 9, 28)


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


def _docs(*records: PaperRecord) -> list[Document]:
    return [Document(paper_id=r.arxiv_id, title=r.title, abstract=r.abstract) for r in records]


def test_the_model_loads_from_the_package_with_the_network_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the model tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    vectors = MiniLMEncoder().encode(["efficient attention", "protein design"])

    assert vectors.shape == (2, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_efficient_attention_finds_sub_quadratic_sequence_mixing(encoder: MiniLMEncoder) -> None:
    docs = _docs(HYENA, PROTEIN, SPEECH)
    topic, *papers = encoder.encode(
        ["efficient attention"] + [paper_text(d.title, d.abstract) for d in docs]
    )
    cosines = [float(topic @ paper) for paper in papers]
    lexical = LexicalRanker(TermStats.from_documents(docs))
    # A short topic and a long abstract score modestly with this small model (0.33 here):
    # meaning alone admits a paper from the threshold set below (default 0.65, see README).
    hybrid = HybridRanker(lexical, MemoryVectors(encoder), HybridSettings(semantic_threshold=0.3))
    interests = [parse_interests("efficient attention")]

    words = lexical.rank(lexical.index_day(docs), interests).select(0)
    picks = hybrid.rank(hybrid.index_day(docs), interests).select(0)

    assert cosines[0] > max(cosines[1:])
    assert words == ()  # no word in common
    assert [p.paper_id for p in picks] == [HYENA.arxiv_id]
    assert picks[0].reasons == ("similar to: efficient attention",)


def _seed(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        papers = (HYENA, PROTEIN, SPEECH)
        listings = tuple(
            ListingRecord(DAY, p.arxiv_id, rank=i + 1, upvotes=10, comments=0)
            for i, p in enumerate(papers)
        )
        settled = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC)
        with session_scope(engine) as session:
            save_day(
                session,
                DayResult(DAY, "daily", "ok", "api", papers=papers, listings=listings),
                started_at=settled,
                finished_at=settled,
                settled=True,
            )
            create_subscriber(
                session,
                email="ada@example.com",
                interests="efficient attention",
                now=settled - timedelta(days=30),
                send_hour=7,
                confirmed=True,
            )
    finally:
        engine.dispose()


def _picked(engine: Engine) -> dict[str, tuple[str, ...]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(EditionPaper.paper_id, EditionPaper.reasons).order_by(col(EditionPaper.rank))
        ).all()
    return {paper_id: tuple(reasons) for paper_id, reasons in rows}


def test_embed_then_compose_with_the_hybrid_ranker(database_url: str, tmp_path: Path) -> None:
    env = {
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_RANKER": "hybrid",
        "PAPERFEED_ALSO_TRENDING": "0",
        "PAPERFEED_SEMANTIC_THRESHOLD": "0.3",
    }
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    _seed(database_url)

    embedded = runner.invoke(app, ["embed"], env=env)
    composed = runner.invoke(app, ["compose", "--date", "2026-09-29"], env=env)

    assert embedded.exit_code == 0, embedded.output
    assert "embedded 3 papers and 1 interest topics" in embedded.output
    assert composed.exit_code == 0, composed.output
    engine = make_engine(database_url)
    try:
        assert _picked(engine) == {HYENA.arxiv_id: ("similar to: efficient attention",)}
    finally:
        engine.dispose()


def _ndcg(run: Path) -> float:
    shown = subprocess.run(
        [sys.executable, str(RANKING / "evaluate.py"), "--run", str(run), "--no-baselines"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(rf"^{re.escape(run.name)}\s+dev\s+([\d.]+)", shown, re.MULTILINE)
    assert match, shown
    return float(match.group(1))


@pytest.mark.slow
def test_hybrid_beats_lexical_by_at_least_two_points_of_ndcg(tmp_path: Path) -> None:
    runs = {}
    for ranker in ("lexical", "hybrid"):
        runs[ranker] = tmp_path / f"{ranker}.jsonl"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "ranking_run.py"),
                "--corpus",
                str(RANKING / "corpus.jsonl"),
                "--profiles",
                str(RANKING / "profiles.jsonl"),
                "--out",
                str(runs[ranker]),
                "--ranker",
                ranker,
            ],
            check=True,
            capture_output=True,
        )

    lexical, hybrid = _ndcg(runs["lexical"]), _ndcg(runs["hybrid"])

    assert lexical >= 0.85
    assert hybrid >= lexical + 0.02, f"hybrid {hybrid:.3f} vs lexical {lexical:.3f}"


@pytest.mark.slow
def test_hybrid_digests_are_more_precise_than_lexical_at_the_same_recall(tmp_path: Path) -> None:
    lexical = digest_scores(tmp_path / "lexical.jsonl", "--ranker", "lexical")
    hybrid = digest_scores(tmp_path / "hybrid.jsonl", "--ranker", "hybrid")

    # bench/RANKING.md: 0.690 / 0.806 / 0.5 against 0.619 / 0.812 / 0.8 (issue 15 asks
    # 0.70 at recall 0.85, out of reach with this model: RANKING.md says why).
    assert hybrid["precision"] >= lexical["precision"] + 0.05, (hybrid, lexical)
    assert hybrid["recall"] >= 0.80, hybrid
    assert hybrid["junk"] <= 0.5, hybrid
