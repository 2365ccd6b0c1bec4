"""How far can learning from ratings go on the dev days? A ceiling, not a feature.

Usage (the ``semantic`` extra: the classifier reads the papers' MiniLM vectors):
    python bench/feedback_ceiling.py --ranker hybrid|lexical [--vectors FILE.npz] \
        [--features vectors|words|both] [--out bench/results/feedback_ceiling_hybrid.json]

Issue 17 asks that learning from ratings lift the digests' F1 (``evaluate_digests.py
--from-day 3``) by 0.10 over the same ranker without it, and reach precision >= 0.85 at
recall >= 0.85 with the hybrid. The service learns from the papers a reader was sent and
rated (6-25 ratings a reader by day 9). This script gives a reader far more than any reader
gives: before each day, **every paper of every earlier day, judged** (~47 a day, grade >= 1
relevant), and trains on them a per-reader L2 logistic regression (class-balanced) over the
papers' MiniLM embeddings (``vectors``), TF-IDF of their stemmed words (``words``), or both.
Each day's digest then takes the ranker's own evidence for the written interests blended
with the classifier's probability p, ``evidence x (1 - mix + 2 mix p)`` (mix 1: the
classifier alone decides how much the words count), keeps what reaches a threshold, at most
``--max-papers``, and the grid over (C, mix, threshold) is searched **on the days it is
scored on**: an optimistic bound. Also "classifier alone" (p >= t, best by p), each reader's best
threshold on the ranker's evidence chosen knowing the answers (no classifier), and the
ranker as shipped (no ratings) as the baseline, which must equal ``digest_run.py``'s.

Every row is scored by ``data/ranking/evaluate_digests.py`` itself, unchanged, from day 3.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest_curve import default_threshold, evaluate
from digest_run import Day, make_ranker, memory_vectors, read_days, read_judgments
from ranking_run import interest_text, read_jsonl, to_document

from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.stats import TermStats
from paperfeed.ranking.text import term_runs
from tests.support.data_paths import CORPUS, DAYS, PROFILES, QRELS

FROM_DAY = 3
C_GRID = (0.3, 1.0, 3.0)
MIX_GRID = (0.25, 0.5, 0.75, 1.0)
THRESHOLD_GRID = (0.05, 0.06, 0.075, 0.1, 0.125)
ALONE_GRID = (0.5, 0.6, 0.7, 0.8, 0.9)
ORACLE_THRESHOLDS = tuple(round(0.02 + 0.01 * i, 3) for i in range(29))


@dataclass(frozen=True, slots=True)
class DayScores:
    """One day: its paper ids, and per profile the ranker's score, evidence, dropped mask."""

    ids: tuple[str, ...]
    score: np.ndarray[Any, Any]
    evidence: np.ndarray[Any, Any]
    dropped: np.ndarray[Any, Any]


def ranker_scores(
    kind: str, days: Sequence[Day], profiles: Sequence[dict[str, Any]], vectors: Any
) -> list[DayScores]:
    """Each day's unthresholded scores, statistics growing day by day as in digest_run.py."""
    interests = [parse_interests(interest_text(p)) for p in profiles]
    stats = TermStats()
    known: dict[str, Document] = {}
    out = []
    for day in days:
        stats.add(day.papers)
        known.update((d.paper_id, d) for d in day.papers)
        ranker = make_ranker(kind, stats.copy(), dict(known), threshold=None, vectors=vectors)
        scores = ranker.scores(ranker.index_day(day.papers), interests)  # type: ignore[attr-defined]
        out.append(
            DayScores(
                tuple(d.paper_id for d in day.papers),
                np.asarray(scores.score),
                np.asarray(scores.evidence),
                np.asarray(scores.dropped),
            )
        )
    return out


def word_features(papers: Sequence[Document]) -> sparse.csr_matrix:
    """TF-IDF (sublinear, title counted twice, l2-normalised) of stemmed content words."""
    counts = [
        Counter(t for run in term_runs(f"{p.title} {p.title} {p.abstract}") for t in run)
        for p in papers
    ]
    df = Counter(t for c in counts for t in c)
    vocab = {t: i for i, t in enumerate(sorted(t for t, n in df.items() if n >= 2))}
    rows, cols, vals = [], [], []
    for r, c in enumerate(counts):
        weights = {
            vocab[t]: (1 + math.log(n)) * math.log(len(papers) / df[t])
            for t, n in c.items()
            if t in vocab
        }
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for col, w in weights.items():
            rows.append(r)
            cols.append(col)
            vals.append(w / norm)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(papers), len(vocab)))


def fit_logistic(
    x: Any, y: np.ndarray[Any, Any], c: float
) -> Callable[[Any], np.ndarray[Any, Any]]:
    """L2 logistic regression, classes weighted to balance (as scikit-learn's
    ``class_weight="balanced"``), fitted with L-BFGS; returns p(relevant | x)."""
    n, d = x.shape
    pos = max(1, int(y.sum()))
    weight = np.where(y, n / (2 * pos), n / (2 * max(1, n - pos)))
    sign = np.where(y, 1.0, -1.0)

    def loss(theta: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
        w, b = theta[:d], theta[d]
        margin = sign * (x @ w + b)
        value = float(np.sum(weight * np.logaddexp(0.0, -margin)) + 0.5 * w @ w / c)
        g = -weight * sign / (1.0 + np.exp(margin))
        grad = np.concatenate([x.T @ g + w / c, [g.sum()]])
        return value, grad

    theta = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B").x

    def predict(z: Any) -> np.ndarray[Any, Any]:
        return np.asarray(1.0 / (1.0 + np.exp(-(z @ theta[:d] + theta[d]))))

    return predict


def run_rows(
    days: Sequence[Day],
    scored: Sequence[DayScores],
    profile_ids: Sequence[str],
    rank: Callable[[int, int], np.ndarray[Any, Any]],
    max_papers: int,
) -> list[dict[str, Any]]:
    """RUN rows: per profile and day, the papers whose ``rank(profile, day)`` value is > 0,
    best first, at most ``max_papers``, none the ranker drops."""
    rows = []
    for di, (day, s) in enumerate(zip(days, scored, strict=True)):
        for pi, profile_id in enumerate(profile_ids):
            value = np.where(s.dropped[pi], 0.0, rank(pi, di))
            order = np.lexsort((np.arange(value.size), -value))
            picked = [i for i in order[:max_papers] if value[i] > 0]
            rows += [
                {
                    "profile_id": profile_id,
                    "day": day.day,
                    "doc_id": s.ids[i],
                    "rank": r,
                    "section": "matched",
                }
                for r, i in enumerate(picked, start=1)
            ]
    return rows


def main(argv: list[str] | None = None) -> int:
    """Search the grid, print the best of each family, write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranker", choices=("lexical", "hybrid"), default="hybrid")
    parser.add_argument("--features", choices=("vectors", "words", "both"), default="vectors")
    parser.add_argument("--vectors", type=Path, default=None, help=".npz vector cache")
    parser.add_argument("--max-papers", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    corpus = {d.paper_id: d for d in (to_document(r) for r in read_jsonl(CORPUS))}
    days = read_days(DAYS, corpus)
    profiles = read_jsonl(PROFILES)
    profile_ids = [str(p["profile_id"]) for p in profiles]
    relevant = read_judgments(QRELS)
    vectors = memory_vectors(args.vectors)
    scored = ranker_scores(args.ranker, days, profiles, vectors)
    threshold = default_threshold(args.ranker)

    # Features of every paper, day by day (rows in the days' order).
    papers = [d for day in days for d in day.papers]
    parts = []
    if args.features in ("vectors", "both"):
        parts.append(sparse.csr_matrix(vectors.paper_vectors(papers)))
    if args.features in ("words", "both"):
        parts.append(word_features(papers))
    features = sparse.hstack(parts).tocsr()
    bounds = np.cumsum([0, *(len(day.papers) for day in days)])
    labels = {
        pid: np.array([p.paper_id in relevant.get(pid, set()) for p in papers])
        for pid in profile_ids
    }
    vectors.save()

    probabilities: dict[float, dict[tuple[int, int], np.ndarray[Any, Any]]] = {}
    for c in C_GRID:
        table = probabilities[c] = {}
        for pi, pid in enumerate(profile_ids):
            for di in range(1, len(days)):
                seen = slice(0, int(bounds[di]))
                y = labels[pid][seen]
                if y.any() and not y.all():
                    predict = fit_logistic(features[seen], y, c)
                    table[(pi, di)] = predict(features[int(bounds[di]) : int(bounds[di + 1])])

    def shipped(pi: int, di: int) -> np.ndarray[Any, Any]:
        s = scored[di]
        return np.where(s.evidence[pi] >= threshold, s.score[pi] + 1e-9, 0.0)

    def blended(c: float, mix: float, cut: float) -> Callable[[int, int], np.ndarray[Any, Any]]:
        def rank(pi: int, di: int) -> np.ndarray[Any, Any]:
            p = probabilities[c].get((pi, di))
            if p is None:  # day 0, or no relevant paper seen yet: the ranker as it is
                return shipped(pi, di)
            value = scored[di].evidence[pi] * (1.0 - mix + 2.0 * mix * p)
            return np.where(value >= cut, value, 0.0)

        return rank

    def alone(c: float, cut: float) -> Callable[[int, int], np.ndarray[Any, Any]]:
        def rank(pi: int, di: int) -> np.ndarray[Any, Any]:
            p = probabilities[c].get((pi, di))
            return shipped(pi, di) if p is None else np.where(p >= cut, p, 0.0)

        return rank

    def per_reader(cuts: Sequence[float]) -> Callable[[int, int], np.ndarray[Any, Any]]:
        def rank(pi: int, di: int) -> np.ndarray[Any, Any]:
            s = scored[di]
            return np.where(s.evidence[pi] >= cuts[pi], s.score[pi] + 1e-9, 0.0)

        return rank

    families: dict[str, list[tuple[dict[str, Any], Callable[[int, int], Any]]]] = {
        "ranker as shipped, no ratings": [({"threshold": threshold}, shipped)],
        "evidence blended with the classifier": [
            ({"C": c, "mix": m, "threshold": t}, blended(c, m, t))
            for c in C_GRID
            for m in MIX_GRID
            for t in THRESHOLD_GRID
        ],
        "classifier alone": [
            ({"C": c, "p_min": t}, alone(c, t)) for c in C_GRID for t in ALONE_GRID
        ],
    }
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        # Each reader's own threshold, chosen knowing the answers (coordinate ascent on F1):
        # the most any learned threshold could give, the order of the papers unchanged.
        run = Path(scratch) / "run.jsonl"

        def f1_of(cuts: Sequence[float]) -> float:
            rows = run_rows(days, scored, profile_ids, per_reader(cuts), args.max_papers)
            run.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            return evaluate(run, from_day=FROM_DAY)["f1"]

        cuts = [threshold] * len(profile_ids)
        for _ in range(2):
            for pi in range(len(profile_ids)):
                cuts[pi] = max(
                    ORACLE_THRESHOLDS, key=lambda t: f1_of([*cuts[:pi], t, *cuts[pi + 1 :]])
                )
        families["ranker, each reader's best threshold (oracle)"] = [
            ({"thresholds": [round(c, 3) for c in cuts]}, per_reader(cuts))
        ]
    print(
        f"{args.ranker} ranker, a reader who judged every earlier paper, classifier over "
        f"{args.features}; scored from day {FROM_DAY} (the best of each grid on those days)"
    )
    print(f"{'family':46} {'precision':>9} {'recall':>6} {'F1':>6} {'sent':>5}  settings")
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run.jsonl"
        for family, grid in families.items():
            best: dict[str, Any] | None = None
            for settings, rank in grid:
                rows = run_rows(days, scored, profile_ids, rank, args.max_papers)
                run.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
                point = {**evaluate(run, from_day=FROM_DAY), "settings": settings}
                if best is None or point["f1"] > best["f1"]:
                    best = point
            assert best is not None
            results.append({"family": family, **best})
            print(
                f"{family:46} {best['precision']:9.3f} {best['recall']:6.3f} {best['f1']:6.3f} "
                f"{best['sent_per_digest']:5.1f}  {best['settings']}",
                flush=True,
            )
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {"ranker": args.ranker, "features": args.features, "results": results}, indent=1
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
