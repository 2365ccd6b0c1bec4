"""What the lexical ranker's digests hold on the judged days, scored by the set's own evaluator.

Runs ``bench/digest_run.py`` (every profile's digest of every simulated day, through compose's
``select_papers``, statistics from the papers seen so far) and ``evaluate_digests.py`` as
processes, exactly as bench/RANKING.md does, and holds the issue 15 targets for the lexical
ranker on the dev split. The hybrid's run needs the model: tests/semantic/.
"""

from __future__ import annotations

from pathlib import Path

from tests.ranking.digest_scores import digest_scores


def test_lexical_digests_meet_the_issue_15_targets(tmp_path: Path) -> None:
    scores = digest_scores(tmp_path / "lexical.jsonl", "--ranker", "lexical")
    assert scores["precision"] >= 0.60, scores
    assert scores["recall"] >= 0.80, scores
    assert scores["junk"] <= 1.0, scores  # papers sent as matches on days with nothing relevant
