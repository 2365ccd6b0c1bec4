"""Term statistics over all stored papers, text features, and the evaluation run script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paperfeed.ranking.features import acronym_definitions, document_features
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.stats import TermStats

BENCH = Path(__file__).resolve().parents[2] / "bench"

Papers = tuple[Document, ...]


def test_statistics_count_each_paper_once_however_often_added(day_papers: Papers) -> None:
    stats = TermStats.from_documents(day_papers)
    assert stats.add(day_papers) == 0
    assert stats.n_docs == len(day_papers)
    assert stats.document_frequency("mamba") == 3
    assert stats.document_frequency("state space") == 4
    assert stats.document_frequency("sourdough") == 1


def test_statistics_survive_a_json_round_trip(stats: TermStats) -> None:
    again = TermStats.from_json(stats.to_json())
    assert again.n_docs == stats.n_docs
    assert again.idf("mamba") == stats.idf("mamba")
    assert "2312.00752" in again
    assert again.average_length("abstract") == stats.average_length("abstract")


def test_statistics_merge_disjoint_sets_of_papers(day_papers: Papers) -> None:
    merged = TermStats.from_documents(day_papers[:3]).merge(
        TermStats.from_documents(day_papers[3:])
    )
    whole = TermStats.from_documents(day_papers)
    assert merged.n_docs == whole.n_docs
    assert merged.to_json() == whole.to_json()


def test_merging_statistics_that_share_a_paper_is_refused(day_papers: Papers) -> None:
    with pytest.raises(ValueError, match="counted twice"):
        TermStats.from_documents(day_papers[:3]).merge(TermStats.from_documents(day_papers[2:]))


def test_cached_statistics_from_another_tokeniser_version_are_refused(stats: TermStats) -> None:
    data = json.loads(stats.to_json())
    data["features_version"] = 0
    with pytest.raises(ValueError, match="rebuild"):
        TermStats.from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["not json", "[]", '{"features_version": 1}'])
def test_corrupt_cached_statistics_say_to_rebuild(text: str) -> None:
    with pytest.raises(ValueError, match="rebuild"):
        TermStats.from_json(text)


def test_a_term_no_stored_paper_has_weighs_nothing(stats: TermStats) -> None:
    assert stats.idf("zzyzx") == 0.0
    assert stats.idf("sourdough") > stats.idf("mamba") > 0


def test_scores_do_not_depend_on_the_other_papers_of_the_day(
    stats: TermStats, day_papers: Papers
) -> None:
    ranker = LexicalRanker(stats, threshold=0.0)
    interests = [parse_interests("speculative decoding")]
    full = ranker.rank(ranker.index_day(day_papers), interests)[0]
    small = ranker.rank(ranker.index_day(day_papers[4:6]), interests)[0]
    by_id = {p.paper_id: p.score for p in full}
    for paper in small:
        assert paper.score == pytest.approx(by_id[paper.paper_id], rel=1e-6)


def test_acronyms_defined_in_a_paper_count_as_their_long_form() -> None:
    defined = acronym_definitions(
        "We use state space models (SSMs), long Chain-of-Thought (CoT) and a ViT (Vision "
        "Transformer) but not Foo Bar (XYZ)."
    )
    assert defined == {"ssm": ["state", "space", "model"], "cot": ["chain", "thought"]}
    features = document_features(
        Document("x", "SSMs everywhere", "State space models (SSMs) are fast. SSMs scale.")
    )
    assert features.fields["abstract"].counts["state space"] == 2
    assert features.fields["title"].counts["state space"] == 0  # title has no definition use


def test_ranking_run_writes_a_run_that_applies_exclusions(
    tmp_path: Path, day_papers: Papers
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    profiles = tmp_path / "profiles.jsonl"
    out = tmp_path / "run.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"doc_id": d.paper_id, "title": d.title, "abstract": d.abstract}) + "\n"
            for d in day_papers
        ),
        encoding="utf-8",
    )
    profiles.write_text(
        json.dumps({"profile_id": "P1", "interests": ["state space models"], "exclude": ["vision"]})
        + "\n",
        encoding="utf-8",
    )
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "ranking_run.py"),
            "--corpus",
            str(corpus),
            "--profiles",
            str(profiles),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    ranked = [r["doc_id"] for r in rows]
    assert ranked[0] == "2312.00752"
    assert "2401.09417" not in ranked
    assert {r["profile_id"] for r in rows} == {"P1"}
