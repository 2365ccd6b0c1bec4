"""What the lexical ranker's digests hold on the judged days, scored by the set's own evaluator.

Runs ``bench/digest_run.py`` (every profile's digest of every simulated day, through compose's
``select_papers``, statistics from the papers seen so far) and ``evaluate_digests.py`` as
processes, exactly as bench/RANKING.md does, and holds the issue 15 targets for the lexical
ranker on the dev split. The hybrid's run needs the model: tests/semantic/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.data_paths import CORPUS, DAYS, EVALUATE_DIGESTS, PROFILES, QRELS, SPLIT

BENCH = Path(__file__).resolve().parents[2] / "bench"


def digest_scores(run: Path, ranker: str = "lexical") -> dict[str, float]:
    """Write the digest run with ``ranker`` and return evaluate_digests.py's dev row."""
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "digest_run.py"),
            "--corpus",
            str(CORPUS),
            "--profiles",
            str(PROFILES),
            "--days",
            str(DAYS),
            "--out",
            str(run),
            "--ranker",
            ranker,
        ],
        check=True,
        capture_output=True,
    )
    shown = subprocess.run(
        [
            sys.executable,
            str(EVALUATE_DIGESTS),
            "--days",
            str(DAYS),
            "--qrels",
            str(QRELS),
            "--split",
            str(SPLIT),
            "--run",
            str(run),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    row = next(line.split() for line in shown.splitlines() if line.startswith("dev"))
    keys = ("precision", "recall", "f1", "sent", "junk")
    return dict(zip(keys, (float(v) for v in row[1:6]), strict=True))


def test_lexical_digests_meet_the_issue_15_targets(tmp_path: Path) -> None:
    scores = digest_scores(tmp_path / "lexical.jsonl")
    assert scores["precision"] >= 0.60, scores
    assert scores["recall"] >= 0.80, scores
    assert scores["junk"] <= 1.0, scores  # papers sent as matches on days with nothing relevant
