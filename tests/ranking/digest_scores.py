"""Digest runs scored by the judged set's own evaluator, as processes, as bench/RANKING.md runs
them: ``bench/digest_run.py`` writes every profile's digest of every simulated day, then
``data/ranking/evaluate_digests.py`` scores the run on the dev split."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.data_paths import CORPUS, DAYS, EVALUATE_DIGESTS, PROFILES, QRELS, SPLIT

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCORES = ("precision", "recall", "f1", "sent", "junk")


def digest_scores(run: Path, *run_args: str, from_day: int | None = None) -> dict[str, float]:
    """Write the run to ``run`` (digest_run.py given ``run_args``, e.g. ``--ranker hybrid``)
    and return the evaluator's dev row, scored from day ``from_day`` on when given."""
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "digest_run.py"),
            *("--corpus", str(CORPUS), "--profiles", str(PROFILES), "--days", str(DAYS)),
            *("--out", str(run), *run_args),
        ],
        check=True,
        capture_output=True,
    )
    shown = subprocess.run(
        [
            sys.executable,
            str(EVALUATE_DIGESTS),
            *("--days", str(DAYS), "--qrels", str(QRELS), "--split", str(SPLIT)),
            *("--run", str(run)),
            *(("--from-day", str(from_day)) if from_day is not None else ()),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    row = next(line.split() for line in shown.splitlines() if line.startswith("dev"))
    return dict(zip(SCORES, (float(v) for v in row[1:6]), strict=True))
