"""``bench/digest_run.py --feedback``: the simulated reader's ratings go through the store
and later days are better for them, scored by the set's own evaluator from day 3 on.

Runs both processes exactly as bench/RANKING.md does (the hybrid's test needs the model:
``.venv-semantic``, marked ``semantic``).
Holds what was measured, not the issue's targets, which these signals do not reach (see
bench/RANKING.md, "Learning from ratings").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.data_paths import CORPUS, DAYS, EVALUATE_DIGESTS, PROFILES, QRELS, SPLIT

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _scores(run: Path, *extra: str) -> dict[str, float]:
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "digest_run.py"),
            *("--corpus", str(CORPUS), "--profiles", str(PROFILES), "--days", str(DAYS)),
            *("--out", str(run), *extra),
        ],
        check=True,
        capture_output=True,
    )
    shown = subprocess.run(
        [
            sys.executable,
            str(EVALUATE_DIGESTS),
            *("--days", str(DAYS), "--qrels", str(QRELS), "--split", str(SPLIT)),
            *("--run", str(run), "--from-day", "3"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    row = next(line.split() for line in shown.splitlines() if line.startswith("dev"))
    keys = ("precision", "recall", "f1", "sent", "junk")
    return dict(zip(keys, (float(v) for v in row[1:6]), strict=True))


def test_later_days_use_what_the_reader_rated(tmp_path: Path) -> None:
    plain = _scores(tmp_path / "plain.jsonl")
    learned = _scores(tmp_path / "learned.jsonl", "--feedback", str(QRELS))
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
    plain = _scores(tmp_path / "plain.jsonl", "--ranker", "hybrid")
    learned = _scores(tmp_path / "learned.jsonl", "--ranker", "hybrid", "--feedback", str(QRELS))
    # bench/RANKING.md: 0.757 / 0.813 / junk 0.0 against 0.685 / 0.832 / 1.0 from day 3.
    assert learned["precision"] >= plain["precision"] + 0.05, (plain, learned)
    assert learned["f1"] >= plain["f1"] + 0.02, (plain, learned)
    assert learned["recall"] >= 0.80, learned
    assert learned["junk"] == 0.0, learned
