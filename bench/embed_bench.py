"""Embedding cost and hybrid scoring speed (needs the semantic extra).

Usage:
    python bench/embed_bench.py [--subscribers 100000] [--topic-sample 20000]

Measured, with all-MiniLM-L6-v2 on this machine's CPU:
- a day of 100 papers (title + abstract, as the embed job does after a crawl);
- the topics of 100,000 synthetic subscribers (score_bench.py's seeded interests: 3-6
  topics of 1-3 corpus words each). The service embeds each distinct topic text once,
  ever, and keeps it; these random word salads are nearly all distinct (real subscribers
  share many topics), so this is the worst case. A seeded sample of ``--topic-sample``
  distinct topics is embedded and timed, and the total extrapolated linearly (the batches
  are independent); ``--topic-sample 0`` embeds them all.
- hybrid scoring of the day for all 100,000 subscribers with the vectors precomputed
  (target < 3 s), next to the lexical ranker on the same subscribers in the same run.
  Scoring time does not depend on the vectors' values, so topics outside the embedded
  sample get random unit vectors of the same shape.
- the same with learned profiles: every subscriber also rated 5 + 3 papers of earlier days
  (``score_bench.learned_profiles``; those papers get random unit vectors as well).
Writes bench/results/embed.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from paperfeed.ranking.encoder import MiniLMEncoder, paper_text
from paperfeed.ranking.hybrid import HybridRanker
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.semantic import topic_layout
from paperfeed.ranking.stats import FloatArray, TermStats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_bench import (
    DAY_PAPERS,
    DEFAULT_CORPUS,
    learned_profiles,
    load_corpus,
    synthetic_interests,
)

HERE = Path(__file__).resolve().parent
SEED = 20261123
T = TypeVar("T")
HYBRID_TARGET_S = 3.0


class Precomputed:
    """Vectors computed before the timed scoring, as the database holds them in service."""

    def __init__(self, papers: dict[str, FloatArray], texts: list[str], topics: FloatArray) -> None:
        self.papers = papers
        self.row = {text: i for i, text in enumerate(texts)}
        self.topics = topics

    def paper_vectors(self, papers: Sequence[Document]) -> FloatArray:
        return np.stack([self.papers[p.paper_id] for p in papers])

    def topic_vectors(self, texts: Sequence[str]) -> FloatArray:
        return self.topics[[self.row[t] for t in texts]]


def best_of(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``runs`` calls of ``work`` and its last result."""
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write bench/results/embed.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--topic-sample", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "embed.json")
    args = parser.parse_args(argv)

    corpus = load_corpus(args.corpus)
    papers = corpus[:DAY_PAPERS]
    interests = [parse_interests(t) for t in synthetic_interests(corpus, args.subscribers)]
    texts, _, _ = topic_layout(interests)

    started = time.perf_counter()
    encoder = MiniLMEncoder()
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    paper_vectors = encoder.encode([paper_text(p.title, p.abstract) for p in papers])
    papers_s = time.perf_counter() - started

    rng = random.Random(SEED)
    sample = (
        texts if args.topic_sample <= 0 else rng.sample(texts, min(args.topic_sample, len(texts)))
    )
    started = time.perf_counter()
    sample_vectors = encoder.encode(sample)
    sample_s = time.perf_counter() - started
    topics_s = sample_s * len(texts) / len(sample)

    noise = np.random.default_rng(SEED).standard_normal((len(texts), 384)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    row = {text: i for i, text in enumerate(texts)}
    noise[[row[t] for t in sample]] = sample_vectors
    vectors = Precomputed(
        {p.paper_id: v for p, v in zip(papers, paper_vectors, strict=True)}, texts, noise
    )

    earlier = corpus[DAY_PAPERS:]
    rated = np.random.default_rng(SEED + 1).standard_normal((len(earlier), 384)).astype(np.float32)
    rated /= np.linalg.norm(rated, axis=1, keepdims=True)
    vectors.papers.update({p.paper_id: v for p, v in zip(earlier, rated, strict=True)})
    learned = learned_profiles(interests, earlier, 5, 3)

    lexical = LexicalRanker(TermStats.from_documents(corpus), known={d.paper_id: d for d in corpus})
    hybrid = HybridRanker(lexical, vectors)
    lexical_day = lexical.index_day(papers)
    hybrid_day = hybrid.index_day(papers)
    lexical_s, _ = best_of(3, lambda: lexical.rank(lexical_day, interests, top_k=20))
    hybrid_s, ranked = best_of(3, lambda: hybrid.rank(hybrid_day, interests, top_k=20))
    learned_s, _ = best_of(3, lambda: hybrid.rank(hybrid_day, learned, top_k=20))
    picked = sum(1 for i in range(len(interests)) if ranked.paper_ids(i))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n_topics = sum(len(i.topics) for i in interests)
    rows = [
        ("load the model (once per process)", f"{load_s:.1f} s", ""),
        (
            f"embed a day of {DAY_PAPERS} papers",
            f"{papers_s:.1f} s",
            f"{DAY_PAPERS / papers_s:.0f} papers/s",
        ),
        (
            f"embed {args.subscribers:,} subscribers' topics",
            f"{topics_s:.0f} s",
            f"{len(texts):,} distinct of {n_topics:,}; {len(sample):,} measured in "
            f"{sample_s:.1f} s ({len(sample) / sample_s:.0f}/s)",
        ),
        ("lexical score + top-20, all subscribers", f"{lexical_s:.2f} s", "baseline, same run"),
        (
            "hybrid score + top-20, all subscribers",
            f"{hybrid_s:.2f} s",
            f"target < {HYBRID_TARGET_S:.0f} s",
        ),
        (
            "hybrid, learned profiles (5 liked + 3 disliked each)",
            f"{learned_s:.2f} s",
            f"target < {HYBRID_TARGET_S:.0f} s",
        ),
        ("hybrid / lexical", f"{hybrid_s / lexical_s:.2f}x", ""),
        ("peak RSS (whole run)", f"{rss:.0f} MiB", ""),
    ]
    print(
        f"{DAY_PAPERS} papers x {args.subscribers:,} subscribers; {picked:,} get at least one paper"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>8}  {note}")
    result = {
        "model": encoder.model,
        "papers": DAY_PAPERS,
        "subscribers": args.subscribers,
        "topics": n_topics,
        "distinct_topics": len(texts),
        "load_s": round(load_s, 2),
        "embed_papers_s": round(papers_s, 2),
        "topic_sample": len(sample),
        "topic_sample_s": round(sample_s, 2),
        "embed_topics_extrapolated_s": round(topics_s, 1),
        "lexical_score_s": round(lexical_s, 3),
        "hybrid_score_s": round(hybrid_s, 3),
        "hybrid_learned_score_s": round(learned_s, 3),
        "peak_rss_mib": round(rss, 1),
        "meets_targets": hybrid_s < HYBRID_TARGET_S and learned_s < HYBRID_TARGET_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
