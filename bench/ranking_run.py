"""Rank every paper of a corpus for every profile with paperfeed's own ranker; write a run.

Usage:
    python bench/ranking_run.py --corpus CORPUS.jsonl --profiles PROFILES.jsonl --out RUN.jsonl \
        [--ranker lexical|hybrid]
    python data/ranking/evaluate.py --run RUN.jsonl

``--ranker hybrid`` (needs the ``semantic`` extra) fuses the lexical ranking with sentence
embeddings of each paper (title + abstract) and each topic line, as the service does with
``PAPERFEED_RANKER=hybrid``; the embeddings are computed here, in memory.

Corpus lines are ``{"doc_id", "title", "abstract", ...}`` (optional ``authors``,
``ai_keywords``, ``upvotes``, ``github_stars`` are used when present). Profile lines are
``{"profile_id", "interests": [...], "exclude"?: [...]}``: each interest becomes one topic
line and each exclude a ``-"..."`` exclusion line of the interest language, exactly what a
subscriber could type. Term statistics come from the corpus itself. Every paper the ranker
scores above zero is written (exclusions are applied by the ranker, not here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from paperfeed.ranking.hybrid import HybridRanker, HybridSettings
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.stats import TermStats


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Objects of a JSON Lines file, blank lines skipped."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def to_document(row: dict[str, Any]) -> Document:
    """A corpus line as a ranking ``Document``."""
    return Document(
        paper_id=str(row["doc_id"]),
        title=str(row.get("title") or ""),
        abstract=str(row.get("abstract") or ""),
        authors=tuple(row.get("authors") or ()),
        ai_keywords=tuple(row.get("ai_keywords") or ()),
        upvotes=int(row.get("upvotes") or 0),
        github_stars=row.get("github_stars"),
    )


def interest_text(profile: dict[str, Any]) -> str:
    """A profile as the text a subscriber would type: one topic per line, then exclusions."""
    lines = [str(t).replace("\n", " ") for t in profile.get("interests") or ()]
    lines += ['-"' + str(t).replace('"', " ") + '"' for t in profile.get("exclude") or ()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the run file; print a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--profiles", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ranker", choices=("lexical", "hybrid"), default="lexical")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    docs = [to_document(row) for row in read_jsonl(args.corpus)]
    profiles = read_jsonl(args.profiles)
    stats = TermStats.from_documents(docs)
    lexical = LexicalRanker(stats, known={d.paper_id: d for d in docs}, threshold=0.0)
    interests = [parse_interests(interest_text(p)) for p in profiles]
    if args.ranker == "hybrid":
        from paperfeed.ranking.encoder import MiniLMEncoder
        from paperfeed.ranking.vectors import MemoryVectors

        # Threshold at 0: every paper is ranked, as for the lexical run.
        hybrid = HybridRanker(
            lexical, MemoryVectors(MiniLMEncoder()), HybridSettings(threshold=0.0)
        )
        hybrid_day = hybrid.index_day(docs)
        day = hybrid_day.lexical
        ranked = hybrid.rank(hybrid_day, interests, top_k=len(docs))
    else:
        day = lexical.index_day(docs)
        ranked = lexical.rank(day, interests, top_k=len(docs))
    written = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for i, profile in enumerate(profiles):
            for position, score in zip(ranked.positions[i], ranked.scores[i], strict=True):
                if position < 0:
                    break
                row = {
                    "profile_id": profile["profile_id"],
                    "doc_id": day.docs[position].paper_id,
                    "score": round(float(score), 6),
                }
                out.write(json.dumps(row) + "\n")
                written += 1
    elapsed = time.perf_counter() - started
    print(
        f"{args.ranker}: ranked {len(docs)} papers for {len(profiles)} profiles: "
        f"{written} scored pairs written to {args.out} in {elapsed:.2f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
