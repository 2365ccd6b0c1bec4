"""`paperfeed compose` and `paperfeed rank` through the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, session_scope

runner = CliRunner()
PAPERS = [
    ("2609.00001", "Speculative Decoding with Draft Trees", "We speed up decoding of LLMs."),
    ("2609.00002", "Vision Transformers for Video", "A vision model for video generation."),
    ("2609.00003", "Quantum Annealing at Scale", "Quantum optimisation on annealers."),
]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {"PAPERFEED_VAR_DIR": str(tmp_path / "var")}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}")
    day = date(2026, 9, 28)
    result = DayResult(
        day=day,
        kind="daily",
        status="ok",
        source="api",
        papers=tuple(PaperRecord(arxiv_id=i, title=t, abstract=a) for i, t, a in PAPERS),
        listings=tuple(
            ListingRecord(day, i, rank=n + 1, upvotes=10 - n, comments=0)
            for n, (i, _, _) in enumerate(PAPERS)
        ),
    )
    settled = datetime(2026, 9, 29, 7, tzinfo=UTC)
    with session_scope(engine) as session:
        save_day(session, result, started_at=settled, finished_at=settled, settled=True)
    engine.dispose()
    return env


def test_rank_explains_what_it_understood_and_why_each_paper_matched(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = runner.invoke(
        app, ["rank", "--interests", '"speculative decoding"\\n-vision'], env=env
    )
    assert result.exit_code == 0, result.output
    assert 'understood topic: "speculative decoding"' in result.output
    assert "understood exclude: vision" in result.output
    assert "2609.00001" in result.output
    assert "2609.00002" not in result.output
    assert "1 of 3 papers of 2026-09-28 match" in result.output


def test_compose_for_a_date_makes_one_edition_and_a_rerun_makes_none(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner.invoke(
        app,
        ["subscribers", "add", "a@example.com", "--interests", "quantum", "--confirmed"],
        env=env,
    )
    first = runner.invoke(app, ["compose", "--date", "2026-09-30"], env=env)
    again = runner.invoke(app, ["compose", "--date", "2026-09-30"], env=env)
    assert first.exit_code == 0, first.output
    assert "composed 1 editions for 1 due subscribers: 1 to send" in first.output
    assert "composed 0 editions for 0 due subscribers" in again.output


def test_rank_on_an_empty_store_says_to_crawl_first(tmp_path: Path) -> None:
    env = {"PAPERFEED_VAR_DIR": str(tmp_path / "var")}
    runner.invoke(app, ["db", "upgrade"], env=env)
    result = runner.invoke(app, ["rank", "--interests", "agents"], env=env)
    assert result.exit_code == 2
    assert "run `paperfeed crawl` first" in result.output
