"""``bench/digest_run.py --feedback``: the simulated reader's ratings go through the store
and later days are better for them, scored by the set's own evaluator from day 3 on.

Runs both processes exactly as bench/RANKING.md does (the hybrid's test needs the model:
``.venv-semantic``, marked ``semantic``).
Holds what was measured, not the issue's targets, which these signals do not reach (see
bench/RANKING.md, "Learning from ratings").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ranking.digest_scores import digest_scores
from tests.support.data_paths import DAYS, QRELS


def test_later_days_use_what_the_reader_rated(tmp_path: Path) -> None:
    plain = digest_scores(tmp_path / "plain.jsonl", from_day=3)
    learned = digest_scores(tmp_path / "learned.jsonl", "--feedback", str(QRELS), from_day=3)
    assert learned["f1"] > plain["f1"], (plain, learned)
    assert learned["precision"] > plain["precision"], (plain, learned)
    assert learned["recall"] >= plain["recall"] - 0.02, (plain, learned)
    # Days 0-2 are alike: the first day has no ratings at all, so it is the same digest.
    first_day = json.loads(DAYS.read_text(encoding="utf-8").splitlines()[0])["day"]

    def day_one(run: Path) -> set[tuple[str, str]]:
        rows = [json.loads(line) for line in run.read_text(encoding="utf-8").splitlines()]
        return {(r["profile_id"], r["doc_id"]) for r in rows if r["day"] == first_day}

    assert day_one(tmp_path / "plain.jsonl") == day_one(tmp_path / "learned.jsonl")
    assert day_one(tmp_path / "plain.jsonl")


@pytest.mark.semantic
@pytest.mark.slow
def test_the_hybrid_learns_from_ratings_too(tmp_path: Path) -> None:
    plain = digest_scores(tmp_path / "plain.jsonl", "--ranker", "hybrid", from_day=3)
    learned = digest_scores(
        tmp_path / "learned.jsonl", "--ranker", "hybrid", "--feedback", str(QRELS), from_day=3
    )
    # bench/RANKING.md: 0.757 / 0.813 / junk 0.0 against 0.685 / 0.832 / 1.0 from day 3.
    assert learned["precision"] >= plain["precision"] + 0.05, (plain, learned)
    assert learned["f1"] >= plain["f1"] + 0.02, (plain, learned)
    assert learned["recall"] >= 0.80, learned
    assert learned["junk"] == 0.0, learned
