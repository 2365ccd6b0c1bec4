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

``--feedback QRELS.jsonl``: after each day the reader rates every matched paper they were
sent, "more like this" when the judgments grade it 1 or more and "less like this"
otherwise, through ``paperfeed.store.ratings.record`` (the function the web endpoint calls)
into a scratch SQLite database, and the next days rank with the profile learned from those
rows (``paperfeed.learned_profiles.feedback_of``, as compose reads them). Score it from
day 3 on: ``evaluate_digests.py ... --from-day 3``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ranking_run import interest_text, read_jsonl, to_document
from sqlalchemy import Engine
from sqlmodel import SQLModel

from paperfeed.digest import EditionPolicy, by_upvotes, select_papers
from paperfeed.learned_profiles import feedback_of
from paperfeed.ranking.feedback import FeedbackSettings, with_feedback
from paperfeed.ranking.interests import Interests, parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker, Ranker
from paperfeed.ranking.stats import TermStats
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import Paper, Subscriber
from paperfeed.store.ratings import LESS, MORE, record
from paperfeed.store.subscribers import new_token


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
    learning: FeedbackSettings | None = None,
) -> Ranker[Any]:
    """The ranker the service would build over ``stats``: lexical, or hybrid over ``vectors``.

    ``learning`` replaces the ranker's default weighing of ratings (a tuning sweep).
    """
    if kind == "lexical":
        lexical_knobs: dict[str, Any] = {} if learning is None else {"feedback": learning}
        if threshold is None:
            return LexicalRanker(stats, known=known, **lexical_knobs)
        return LexicalRanker(stats, known=known, threshold=threshold, **lexical_knobs)
    from paperfeed.ranking.hybrid import HybridRanker, HybridSettings

    knobs: dict[str, Any] = {} if threshold is None else {"threshold": threshold}
    if learning is not None:
        knobs["feedback"] = learning
    return HybridRanker(LexicalRanker(stats, known=known), vectors, HybridSettings(**knobs))


class Ratings:
    """The simulated readers' clicks, stored as the service stores them (scratch SQLite).

    One subscriber row per profile and a paper row per corpus paper (ratings reference both);
    ``rate`` goes through ``store.ratings.record``, ``learned`` through
    ``learned_profiles.feedback_of``, the two functions the web endpoint and compose call.
    """

    def __init__(self, engine: Engine, docs: Mapping[str, Document], n_profiles: int) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine)
        self.now = datetime(2026, 1, 5, 12, tzinfo=UTC)
        with session_scope(engine) as session:
            for doc in docs.values():
                session.add(
                    Paper(
                        arxiv_id=doc.paper_id,
                        title=doc.title,
                        abstract=doc.abstract,
                        authors=list(doc.authors),
                        ai_keywords=list(doc.ai_keywords),
                        first_seen_at=self.now,
                        updated_at=self.now,
                    )
                )
            subscribers = [
                Subscriber(
                    email=f"p{i}@example.org",
                    token=new_token(),
                    created_at=self.now,
                    updated_at=self.now,
                )
                for i in range(n_profiles)
            ]
            session.add_all(subscribers)
            session.flush()
            self.ids = [s.id or 0 for s in subscribers]

    def rate(self, row: int, paper_id: str, more: bool) -> None:
        """Profile ``row`` clicks "more like this" (``more``) or "less like this"."""
        self.now += timedelta(seconds=1)  # later clicks are more recent
        with session_scope(self.engine) as session:
            record(session, self.ids[row], paper_id, MORE if more else LESS, now=self.now)

    def learned(self, interests: Sequence[Interests]) -> list[Interests]:
        """Each profile's interests with what it rated so far."""
        with session_scope(self.engine) as session:
            feedback = feedback_of(session, self.ids)
        return [with_feedback(i, feedback.get(self.ids[row])) for row, i in enumerate(interests)]


def read_judgments(path: Path) -> dict[str, set[str]]:
    """Per profile, the papers graded 1 or more (what the simulated reader likes)."""
    out: dict[str, set[str]] = {}
    for row in read_jsonl(path):
        if int(row["grade"]) >= 1:
            out.setdefault(str(row["profile_id"]), set()).add(str(row["doc_id"]))
    return out


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
    judgments: Mapping[str, set[str]] | None = None,
    learning: FeedbackSettings | None = None,
) -> list[dict[str, Any]]:
    """Every profile's digest of every day, as RUN rows.

    Statistics grow day by day with the papers seen so far, unless ``corpus_stats`` (fixed
    statistics, e.g. over the whole corpus) are given. With ``judgments`` (per profile the
    papers it finds relevant) each profile rates the papers it was sent as matches after
    each day, and later days rank with what was learned (``Ratings``).
    """
    policy = policy or EditionPolicy()
    written: list[Interests] = [parse_interests(interest_text(p)) for p in profiles]
    interests = written
    ratings: Ratings | None = None
    scratch = tempfile.TemporaryDirectory() if judgments is not None else None
    if scratch is not None:
        documents = {d.paper_id: d for day in days for d in day.papers}
        engine = make_engine(f"sqlite:///{scratch.name}/ratings.db")
        ratings = Ratings(engine, documents, len(profiles))
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
            learning=learning,
        )
        if ratings is not None:
            interests = ratings.learned(written)
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
                if ratings is not None and judgments is not None and paper.section == "matched":
                    liked = paper.paper_id in judgments.get(str(profile["profile_id"]), set())
                    ratings.rate(row, paper.paper_id, liked)
                rows.append(
                    {
                        "profile_id": profile["profile_id"],
                        "day": day.day,
                        "doc_id": paper.paper_id,
                        "rank": rank,
                        "section": paper.section,
                    }
                )
    if scratch is not None:
        scratch.cleanup()
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
    parser.add_argument(
        "--feedback",
        type=Path,
        default=None,
        metavar="QRELS.jsonl",
        help="after each day, rate the matched papers sent (grade >= 1: more like this; "
        "otherwise less) and learn from it on the following days",
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
        judgments=read_judgments(args.feedback) if args.feedback is not None else None,
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
