"""What each profile's digest would hold each day, through compose's own selection; write a run.

Usage:
    python bench/digest_run.py --corpus CORPUS.jsonl --profiles PROFILES.jsonl \
        --days DAYS.jsonl --out RUN.jsonl [--ranker lexical|hybrid] [--max-papers 10]
    python data/ranking/evaluate_digests.py --days DAYS.jsonl --qrels QRELS.jsonl \
        --split SPLIT.json --run RUN.jsonl

Days are processed in file order as successive editions of a daily subscriber: each day's
papers are indexed once, every profile is ranked against them with the ranker's default
threshold, and ``paperfeed.digest.select_papers`` (the function compose calls) picks the
matches (threshold, at most ``--max-papers``, exclusions, never a paper sent before) and the
"also trending" extras. Term statistics are those of the papers seen so far, today's
included, as the service's statistics hold every stored paper when it composes
(``--stats corpus``: over the whole corpus from the first day, as the reference row in
data/ranking/README.md was measured).

RUN lines are ``{"profile_id", "day", "doc_id", "rank", "section"}`` with section "matched"
or "trending"; ``rank`` counts from 1 within the digest. ``--ranker hybrid`` needs the
``semantic`` extra; vectors are computed here, in memory (``--vectors FILE.npz`` keeps them
between runs). ``--threshold`` overrides the default threshold, for a precision-recall sweep
(``bench/digest_curve.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ranking_run import interest_text, read_jsonl, to_document

from paperfeed.digest import EditionPolicy, by_upvotes, select_papers
from paperfeed.ranking.interests import Interests, parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker, Ranker
from paperfeed.ranking.stats import TermStats


@dataclass(frozen=True, slots=True)
class Day:
    """One simulated weekday: its date and its papers, in file order."""

    day: str
    papers: tuple[Document, ...]


def read_days(path: Path, docs: dict[str, Document]) -> list[Day]:
    """The days file, each day's ids resolved against the corpus."""
    return [
        Day(str(row["day"]), tuple(docs[str(i)] for i in row["doc_ids"]))
        for row in read_jsonl(path)
    ]


def make_ranker(
    kind: str,
    stats: TermStats,
    known: dict[str, Document],
    *,
    threshold: float | None,
    vectors: Any = None,
) -> Ranker[Any]:
    """The ranker the service would build over ``stats``: lexical, or hybrid over ``vectors``."""
    if kind == "lexical":
        if threshold is None:
            return LexicalRanker(stats, known=known)
        return LexicalRanker(stats, known=known, threshold=threshold)
    from paperfeed.ranking.hybrid import HybridRanker, HybridSettings

    settings = HybridSettings() if threshold is None else HybridSettings(threshold=threshold)
    return HybridRanker(LexicalRanker(stats, known=known), vectors, settings)


def digests(
    days: Sequence[Day],
    profiles: Sequence[dict[str, Any]],
    *,
    ranker_kind: str = "lexical",
    max_papers: int = 10,
    policy: EditionPolicy | None = None,
    threshold: float | None = None,
    vectors: Any = None,
    corpus_stats: TermStats | None = None,
) -> list[dict[str, Any]]:
    """Every profile's digest of every day, as RUN rows.

    Statistics grow day by day with the papers seen so far, unless ``corpus_stats`` (fixed
    statistics, e.g. over the whole corpus) are given.
    """
    policy = policy or EditionPolicy()
    interests: list[Interests] = [parse_interests(interest_text(p)) for p in profiles]
    stats = TermStats()
    known: dict[str, Document] = {}
    sent: list[set[str]] = [set() for _ in profiles]
    rows: list[dict[str, Any]] = []
    for day in days:
        # The papers seen so far, today's included: what the store holds when compose runs.
        stats.add(day.papers)
        known.update((d.paper_id, d) for d in day.papers)
        ranker = make_ranker(
            ranker_kind,
            corpus_stats if corpus_stats is not None else stats.copy(),
            dict(known),
            threshold=threshold,
            vectors=vectors,
        )
        index = ranker.index_day(day.papers)
        ranked = ranker.rank(index, interests, top_k=len(day.papers))
        by_votes = by_upvotes((d.paper_id, d.upvotes) for d in day.papers)
        for row, profile in enumerate(profiles):
            # Each day is the edition after the previous one: today's papers, never one sent.
            eligible = {d.paper_id for d in day.papers} - sent[row]
            selection = select_papers(
                ranked,
                row,
                eligible=eligible,
                by_votes=by_votes,
                max_papers=max_papers,
                policy=policy,
            )
            for rank, paper in enumerate(selection.papers, start=1):
                sent[row].add(paper.paper_id)
                rows.append(
                    {
                        "profile_id": profile["profile_id"],
                        "day": day.day,
                        "doc_id": paper.paper_id,
                        "rank": rank,
                        "section": paper.section,
                    }
                )
    return rows


def memory_vectors(cache: Path | None) -> Any:
    """The MiniLM encoder's vectors in memory, loaded from and saved to ``cache`` if given."""
    from cached_vectors import CachedVectors

    from paperfeed.ranking.encoder import MiniLMEncoder

    return CachedVectors(MiniLMEncoder, cache)


def main(argv: list[str] | None = None) -> int:
    """Write the run file; print a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--profiles", type=Path, required=True)
    parser.add_argument("--days", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ranker", choices=("lexical", "hybrid"), default="lexical")
    parser.add_argument("--max-papers", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=None, help="override the default")
    parser.add_argument("--vectors", type=Path, default=None, help="hybrid: .npz vector cache")
    parser.add_argument(
        "--stats",
        choices=("seen", "corpus"),
        default="seen",
        help="term statistics over the papers seen so far (as in service; the default) or "
        "over the whole corpus from day one",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    corpus = {d.paper_id: d for d in (to_document(r) for r in read_jsonl(args.corpus))}
    days = read_days(args.days, corpus)
    profiles = read_jsonl(args.profiles)
    vectors = memory_vectors(args.vectors) if args.ranker == "hybrid" else None
    rows = digests(
        days,
        profiles,
        ranker_kind=args.ranker,
        max_papers=args.max_papers,
        threshold=args.threshold,
        vectors=vectors,
        corpus_stats=TermStats.from_documents(corpus.values()) if args.stats == "corpus" else None,
    )
    if vectors is not None:
        vectors.save()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    matched = sum(r["section"] == "matched" for r in rows)
    elapsed = time.perf_counter() - started
    print(
        f"{args.ranker}: {len(days)} days x {len(profiles)} profiles: {matched} matched and "
        f"{len(rows) - matched} trending papers written to {args.out} in {elapsed:.2f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
